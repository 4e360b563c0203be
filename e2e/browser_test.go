package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Viewports of the screenshots and of the layout checks.
var (
	phone   = viewport{"phone", 390, 844}
	desktop = viewport{"desktop", 1280, 900}
)

type viewport struct {
	name          string
	width, height int64
}

// tab is one browser tab with a recorder of what went wrong in it.
type tab struct {
	t   *testing.T
	ctx context.Context
	rec *recorder
}

// newTab opens a tab at vp's size; it closes when the test ends.
func newTab(t *testing.T, vp viewport) *tab {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, rec: &recorder{allowed: map[string]int64{}}}
	if err := chromedp.Listen(ctx, tb.rec.event); err != nil {
		t.Fatal(err)
	}
	tb.do(tb.resize(vp))
	return tb
}

func (tb *tab) resize(vp viewport) chromedp.Action[chromedp.Void] {
	if vp.width < 600 {
		return chromedp.EmulateViewport(vp.width, vp.height, chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(vp.width, vp.height)
}

// do runs actions with a bound on the whole step, failing the test on error.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", firstLine(expr), err)
	}
	return v
}

// open loads path and checks that the page loaded cleanly: no console
// error, no failed request, and the document's status is want.
func (tb *tab) open(path string, want int64) {
	tb.t.Helper()
	tb.rec.reset(baseURL+path, want)
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Navigate(baseURL+path))
	if err != nil {
		tb.t.Fatalf("GET %s: %v", path, err)
	}
	if res.Status != want {
		tb.t.Errorf("GET %s: status %d, want %d", path, res.Status, want)
	}
	tb.clean(path)
}

// submit clicks sel (a submit button), waits for the page it leads to and
// checks that it loaded cleanly with status 200.
func (tb *tab) submit(sel string) {
	tb.t.Helper()
	tb.rec.reset("", 200)
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("submitting with %s: %v", sel, err)
	}
	if res.Status != 200 {
		tb.t.Errorf("submitting with %s: status %d", sel, res.Status)
	}
	tb.clean(sel)
}

// clean fails the test with whatever went wrong since the last reset. It
// first makes the page's pending work settle: a round trip through the
// page after load, so late console messages have been delivered.
func (tb *tab) clean(what string) {
	tb.t.Helper()
	eval[bool](tb, `new Promise(r => requestAnimationFrame(() => setTimeout(() => r(true), 0)))`)
	for _, p := range tb.rec.take() {
		tb.t.Errorf("%s: %s", what, p)
	}
}

// texts returns the trimmed text of every element sel matches.
func (tb *tab) texts(sel string) []string {
	tb.t.Helper()
	return eval[[]string](tb, fmt.Sprintf(`Array.from(document.querySelectorAll(%q), e => e.textContent.trim())`, sel))
}

func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return eval[int](tb, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// screenshot saves the viewport as artifacts/screenshots/<name>.png, and
// also as docs/screenshots/<name>.png when it is in the README's set and
// -docs-screenshots is given.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	// Fonts and layout settled: the screenshot shows what a reader sees.
	eval[bool](tb, `document.fonts.ready.then(() => true)`)
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{filepath.Join("..", "artifacts", "screenshots")}
	if *docsScreenshots && docsSet[name] {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
}

// docsSet are the screenshots committed for the README.
var docsSet = map[string]bool{
	"front-desktop":     true,
	"front-phone":       true,
	"scores-phone":      true,
	"fragments-desktop": true,
	"admin-desktop":     true,
	"debug-desktop":     true,
}

// recorder collects what went wrong in a tab: console errors, uncaught
// exceptions, browser log errors (CSP violations among them), failed
// requests and responses of 400 or more. It runs in the tab's event loop,
// so it only appends under a lock.
type recorder struct {
	mu       sync.Mutex
	problems []string
	// allowed maps a document URL to the status it is expected to have
	// (a 404 page, the admin login's 401).
	allowed map[string]int64
}

func (r *recorder) reset(url string, status int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = nil
	clear(r.allowed)
	if url != "" && status != 200 {
		r.allowed[url] = status
	}
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.problems
	r.problems = nil
	return p
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *recorder) event(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			r.add("console.%s: %s", ev.Type, strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		r.add("uncaught exception: %s (%s:%d)", msg, d.URL, d.LineNumber+1)
	case *log.EventEntryAdded:
		e := ev.Entry
		if e.Level != log.EntryLevelError {
			return
		}
		// A document answered with its expected error status is logged as
		// "Failed to load resource"; it is not a problem.
		r.mu.Lock()
		_, expected := r.allowed[e.URL]
		r.mu.Unlock()
		if expected && e.Source == log.EntrySourceNetwork {
			return
		}
		r.add("browser log (%s): %s %s", e.Source, e.Text, e.URL)
	case *network.EventLoadingFailed:
		if ev.Canceled {
			return
		}
		r.add("request failed: %s %s %s", ev.Type, ev.ErrorText, ev.BlockedReason)
	case *network.EventResponseReceived:
		res := ev.Response
		if res.Status < 400 {
			return
		}
		r.mu.Lock()
		want, ok := r.allowed[res.URL]
		r.mu.Unlock()
		if ok && want == res.Status {
			return
		}
		r.add("response %d for %s", res.Status, res.URL)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "…"
	}
	return s
}
