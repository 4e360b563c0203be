package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/broadsheet/broadsheet"
	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/metrics"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/tuning"
	"github.com/broadsheet/broadsheet/web"
)

const chromiumPath = "/usr/bin/chromium"

// adminToken is the token of the in-process demo's admin page.
const adminToken = "e2e-admin-token"

var docsScreenshots = flag.Bool("docs-screenshots", false, "also write the README's screenshots to docs/screenshots/")

// The suite's shared state: one demo server and one browser.
var (
	baseURL string
	comp    *composer.Composer
	tuner   *tuning.Manager
	clock   = &fakeClock{t: time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)}
	// browser is the context of the browser's first tab; every test opens
	// tabs of its own from it.
	browser context.Context
	// skipReason is why the suite cannot run (no Chromium outside CI).
	skipReason string
)

// fakeClock is the demo feed's clock: tests move it to make live data
// change.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fastFeed is the feed of most tests: no latency, the test clock.
func fastFeed() feed.Options { return feed.Options{Now: clock.Now} }

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "e2e: %s is missing (CI=true): the browser tests must run in CI; ./scripts/test.sh installs it\n", chromiumPath)
			return 1
		}
		skipReason = chromiumPath + " is missing: run ./scripts/test.sh, which installs chromium, to run the browser tests"
		return m.Run()
	}
	feed.Configure(fastFeed())
	defer feed.Configure(feed.DefaultOptions)

	stop, err := startDemo()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer stop()

	dir, err := os.MkdirTemp("", "broadsheet-e2e-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("font-render-hinting", "none"),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first Run starts the browser, bound to ctx (no timeout here: it
	// would stop the browser).
	if err := chromedp.Do(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting chromium:", err)
		return 1
	}
	browser = ctx
	return m.Run()
}

// startDemo serves the demo site, wired as cmd/composer wires it (live
// tuning on a memory store, figures for the explorer), on a loopback
// server. Budgets and timeouts are generous: the tests assert what pages
// show, not how fast they are (-race slows fragments down).
func startDemo() (stop func(), err error) {
	log := slog.New(slog.DiscardHandler)
	reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots()}
	site, err := config.Parse("site.yaml (built in)", broadsheet.DefaultSite, reg)
	if err != nil {
		return nil, err
	}
	site.Limits.Budget = 10 * time.Second
	for _, p := range site.Pages {
		p.Budget = 10 * time.Second
	}
	for _, f := range site.Fragments {
		f.Settings.Timeout = 5 * time.Second
	}
	obs := metrics.New(site, metrics.Options{})
	comp = composer.New(site, composer.Options{Layouts: reg.Layouts, ErrorPage: templates.ErrorPage, Overlay: templates.DebugOverlay, Logger: log, Observer: obs})
	var srv *web.Server
	tuner = tuning.NewManager(site, &tuning.Memory{}, func(s *composer.Site) { srv.Reload(s) }, log)
	srv = web.NewWithOptions(comp, web.Options{Logger: log, Stats: obs, Tuner: tuner, AdminToken: adminToken})
	ctx, cancel := context.WithCancel(context.Background())
	stopTuning := tuner.Start(ctx)
	srv.SetReady(true)
	ts := httptest.NewServer(srv)
	baseURL = ts.URL
	return func() {
		ts.Close()
		stopTuning()
		cancel()
		comp.Close()
	}, nil
}
