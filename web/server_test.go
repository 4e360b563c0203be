package web_test

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet"
	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/web"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fixedNow makes the demo feed deterministic, so pages can be golden files.
var fixedNow = time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)

func TestMain(m *testing.M) {
	feed.Configure(feed.Options{Now: func() time.Time { return fixedNow }})
	goleak.VerifyTestMain(m)
}

// demo starts the demo site, as cmd/composer does, on a loopback server.
func demo(t *testing.T) (*httptest.Server, *composer.Site) {
	t.Helper()
	return demoOf(t, nil)
}

// demoOf is demo with the site's fragments and pages narrowed to the named
// ones (all of them when keep is nil).
func demoOf(t *testing.T, keep *siteNames) (*httptest.Server, *composer.Site) {
	t.Helper()
	reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots()}
	site, err := config.Parse("site.yaml", broadsheet.DefaultSite, reg)
	if err != nil {
		t.Fatal(err)
	}
	if keep != nil {
		keep.narrow(t, site)
	}
	// Tests assert content, not speed (-race slows fragments tenfold).
	site.Limits.Budget = 10 * time.Second
	for _, p := range site.Pages {
		p.Budget = 10 * time.Second
	}
	for _, f := range site.Fragments {
		f.Settings.Timeout = 5 * time.Second
	}
	comp := composer.New(site, composer.Options{Layouts: reg.Layouts, ErrorPage: templates.ErrorPage, Overlay: templates.DebugOverlay})
	srv := web.New(comp, slog.New(slog.DiscardHandler))
	srv.SetReady(true)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		comp.Close()
	})
	return ts, site
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func doc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEveryPage(t *testing.T) {
	ts, site := demo(t)
	for _, p := range site.Pages {
		t.Run(p.Name, func(t *testing.T) {
			path := examplePath(p.Path)
			res, body := get(t, ts.URL+path+"?debug=1")
			if res.StatusCode != 200 {
				t.Fatalf("GET %s: %d\n%s", path, res.StatusCode, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.Contains(res.Header.Get("Server-Timing"), "plan;dur=") {
				t.Errorf("Server-Timing %q", res.Header.Get("Server-Timing"))
			}
			if !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
				t.Errorf("page does not end with </html>")
			}
			d := doc(t, body)
			if d.Find("main").Length() != 1 || d.Find("h1").Length() < 1 {
				t.Errorf("page lacks its main landmark or h1")
			}
			for _, problem := range headingProblems(d) {
				t.Error(problem)
			}
			d.Find("bs-frag").Each(func(_ int, s *goquery.Selection) {
				o, _ := s.Attr("data-outcome")
				if o != "miss" && o != "hit" && o != "stale" {
					f, _ := s.Attr("data-fragment")
					t.Errorf("include %s: outcome %s (%s)", f, o, s.AttrOr("title", ""))
				}
			})
			if d.Find(".bs-debug-overlay").Length() != 1 {
				t.Errorf("debug overlay missing")
			}
		})
	}
}

// headingProblems applies the browser audit's heading rules (e2e) to a
// page without a browser: one h1, first; no level skipped on the way
// down. A new fragment's page is checked by them in broadsheet check.
func headingProblems(d *goquery.Document) []string {
	var out []string
	if n := d.Find("h1").Length(); n != 1 {
		out = append(out, fmt.Sprintf("want exactly one h1, have %d", n))
	}
	prev := 0
	d.Find("h1, h2, h3, h4, h5, h6").Each(func(_ int, h *goquery.Selection) {
		level := int(goquery.NodeName(h)[1] - '0')
		text := strings.Join(strings.Fields(h.Text()), " ")
		switch {
		case prev == 0 && level != 1:
			out = append(out, fmt.Sprintf("the first heading is <h%d> %q, not an h1", level, text))
		case prev != 0 && level > prev+1:
			out = append(out, fmt.Sprintf("heading <h%d> %q skips from h%d", level, text, prev))
		}
		prev = level
	})
	return out
}

// examplePath fills the demo's route placeholders with valid values.
func examplePath(p string) string {
	return strings.NewReplacer("{city}", "london", "{id}", "s003", "{section}", "world").Replace(p)
}

func TestFrontPage(t *testing.T) {
	ts, _ := demo(t)
	_, body := get(t, ts.URL+"/?debug=1")
	d := doc(t, body)
	includes := d.Find("bs-frag")
	kinds := map[string]bool{}
	includes.Each(func(_ int, s *goquery.Selection) { kinds[s.AttrOr("data-fragment", "")] = true })
	if includes.Length() < 30 || len(kinds) < 6 {
		t.Fatalf("front page has %d includes of %d kinds, want ≥30 of ≥6", includes.Length(), len(kinds))
	}
}

func TestScoresPage(t *testing.T) {
	ts, _ := demo(t)
	_, body := get(t, ts.URL+"/sport/football/scores?debug=1")
	d := doc(t, body)
	scores := d.Find(`bs-frag[data-fragment="scoreboard"] bs-frag[data-fragment="score"]`)
	if scores.Length() < 2000 {
		t.Fatalf("scores page has %d nested score includes, want ≥2000", scores.Length())
	}
	// The size is a parameter (issue 4 measures 100 to 10,000).
	_, body = get(t, ts.URL+"/sport/football/scores?debug=1&size=100")
	if n := doc(t, body).Find(`bs-frag[data-fragment="score"]`).Length(); n != 100 {
		t.Fatalf("size=100 gave %d scores", n)
	}
}

func TestErrorsAreReadablePages(t *testing.T) {
	ts, _ := demo(t)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/weather/atlantis", 404},
		{"GET", "/no/such/page", 404},
		{"GET", "/sport/football/scores?size=abc", 400},
		{"GET", "/story/s999", 404},
		{"POST", "/", 405},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, res.StatusCode, tc.status)
			continue
		}
		d := doc(t, string(b))
		if d.Find("h1").Length() != 1 || !strings.Contains(d.Find("title").Text(), "Broadsheet") {
			t.Errorf("%s %s: not a readable page:\n%s", tc.method, tc.path, b)
		}
	}
	res, err := http.Head(ts.URL + "/")
	if err != nil || res.StatusCode != 200 {
		t.Errorf("HEAD /: %v %v", res, err)
	}
}

func TestIndexes(t *testing.T) {
	ts, site := demo(t)
	_, body := get(t, ts.URL+"/_/pages")
	d := doc(t, body)
	var hrefs []string
	d.Find("a[href]").Each(func(_ int, s *goquery.Selection) { hrefs = append(hrefs, s.AttrOr("href", "")) })
	for _, p := range site.Pages {
		pattern := regexp.QuoteMeta(regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(p.Path, "PARAM"))
		re := regexp.MustCompile("^" + strings.ReplaceAll(pattern, "PARAM", "[^/]+") + "$")
		found := false
		for _, h := range hrefs {
			found = found || re.MatchString(h)
		}
		if !found {
			t.Errorf("/_/pages has no link to page %s (%s) among %q", p.Name, p.Path, hrefs)
		}
	}
	_, body = get(t, ts.URL+"/_/fragments")
	d = doc(t, body)
	for _, s := range fragments.All() {
		if !strings.Contains(d.Text(), s.Name) {
			t.Errorf("/_/fragments does not list %s", s.Name)
		}
	}
	res, _ := get(t, ts.URL+"/healthz")
	if res.StatusCode != 200 {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
}

// siteNames names the fragments and pages a golden index shows.
type siteNames struct{ fragments, pages []string }

// goldenSite is what the golden indexes (/_/fragments, /_/pages) list: the
// demo's fragments and pages as they are in testdata, so that a fragment
// or page added to the site (by `broadsheet new fragment`) leaves them as
// they are. TestIndexes checks that every registered fragment and every
// configured page is listed. A fragment or page that should be in the
// golden files too is added here, then go test ./web -update.
var goldenSite = &siteNames{
	fragments: []string{"article", "city-list", "footer", "forecast", "latest-scores", "lead", "market",
		"most-read", "my-teams", "nav", "score", "scoreboard", "story", "top-stories", "weather"},
	pages: []string{"front", "news", "section", "scores", "city", "story"},
}

// narrow leaves in site only the fragments and pages of n, each of which
// must be there.
func (n *siteNames) narrow(t *testing.T, site *composer.Site) {
	t.Helper()
	frags := map[string]*composer.Fragment{}
	for _, name := range n.fragments {
		if frags[name] = site.Fragments[name]; frags[name] == nil {
			t.Fatalf("golden fragment %q is not registered: take it out of goldenSite", name)
		}
	}
	var pages []*composer.Page
	for _, name := range n.pages {
		i := slices.IndexFunc(site.Pages, func(p *composer.Page) bool { return p.Name == name })
		if i < 0 {
			t.Fatalf("golden page %q is not in site.yaml: take it out of goldenSite", name)
		}
		pages = append(pages, site.Pages[i])
	}
	site.Fragments, site.Pages = frags, pages
}

// TestGolden compares whole pages with testdata/*.html (go test -update
// rewrites them). The feed's clock is fixed, so pages are deterministic
// but for per-request timings, which are masked. The indexes are of
// goldenSite.
func TestGolden(t *testing.T) {
	ts, _ := demo(t)
	indexes, _ := demoOf(t, goldenSite)
	for _, g := range []struct {
		name, path string
		srv        *httptest.Server
	}{
		{"front", "/", ts},
		{"city", "/weather/london", ts},
		{"scores-5", "/sport/football/scores?size=5", ts},
		{"not-found", "/weather/atlantis", ts},
		{"pages", "/_/pages", indexes},
		{"fragments", "/_/fragments", indexes},
		{"debug-city", "/weather/paris?debug=1", ts},
	} {
		name, path := g.name, g.path
		t.Run(name, func(t *testing.T) {
			_, body := get(t, g.srv.URL+path)
			body = maskTimings(body)
			file := filepath.Join("testdata", name+".html")
			if *update {
				if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./web -update)", err)
			}
			if body != string(want) {
				t.Errorf("%s differs from %s (run go test ./web -update and review the diff)", path, file)
			}
		})
	}
}

var (
	msRE    = regexp.MustCompile(`data-ms="[0-9.]+"`)
	phaseRE = regexp.MustCompile(`<dd>[0-9.]+ ms</dd>`)
	slowRE  = regexp.MustCompile(`<ol class="bs-debug-slowest">.*?</ol>`)
	sumRE   = regexp.MustCompile(`includes · [0-9.]+ ms`)
	nonceRE = regexp.MustCompile(`nonce="[^"]*"`)
	// Whether an include was a hit or a miss depends on what earlier
	// tests left in the cache; the golden file checks the markup.
	servedRE   = regexp.MustCompile(`data-outcome="(hit|miss|stale)" data-ms`)
	outcomesRE = regexp.MustCompile(`<ul class="bs-debug-outcomes">.*?</ul>`)
	sourceRE   = regexp.MustCompile(`<code>/[^"<>]*/fragments/`)
)

func maskTimings(s string) string {
	s = msRE.ReplaceAllString(s, `data-ms="X"`)
	s = phaseRE.ReplaceAllString(s, `<dd>X ms</dd>`)
	s = slowRE.ReplaceAllString(s, `<ol class="bs-debug-slowest">(timing-dependent)</ol>`)
	s = sumRE.ReplaceAllString(s, `includes · X ms`)
	s = nonceRE.ReplaceAllString(s, `nonce="X"`)
	s = servedRE.ReplaceAllString(s, `data-outcome="served" data-ms`)
	s = outcomesRE.ReplaceAllString(s, `<ul class="bs-debug-outcomes">(cache-dependent)</ul>`)
	s = fingerprintRE.ReplaceAllString(s, `/static/$1.HASH.`) // the stylesheet's changes do not change pages
	return sourceRE.ReplaceAllString(s, `<code>fragments/`)
}

var fingerprintRE = regexp.MustCompile(`/static/([A-Za-z0-9_-]+)\.[0-9a-f]{8}\.`)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func TestExplorerLinksSource(t *testing.T) {
	ts, _ := demo(t)
	_, body := get(t, ts.URL+"/_/fragments/score")
	href, ok := doc(t, body).Find(`.bs-source a`).Attr("href")
	if !ok || href != "/_/fragments/score/source" {
		t.Fatalf("source link %q", href)
	}
	res, src := get(t, ts.URL+href)
	if res.StatusCode != 200 || !strings.Contains(src, "func Score(") || !strings.Contains(src, "templ scoreView") && !strings.Contains(src, "templ ") {
		t.Fatalf("source page %d: %.200s", res.StatusCode, src)
	}
	if res, _ := get(t, ts.URL+"/_/fragments/nosuch/source"); res.StatusCode != 404 {
		t.Fatalf("unknown fragment's source: %d", res.StatusCode)
	}
}
