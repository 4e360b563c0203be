package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/internal/fragsim"
	"github.com/broadsheet/broadsheet/loadtest"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// parseRemoteSite parses remoteSite as the composer does, with its
// registry and remote fragments fetched by c.
func parseRemoteSite(t *testing.T, c *remote.Client, base string, includes int, timeout time.Duration) *composer.Site {
	t.Helper()
	reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots(),
		Remote: func(name string, rc config.RemoteConfig, local *composer.Spec) (*composer.Spec, error) {
			return c.Spec(remote.Config{Name: name, URL: rc.URL, Params: rc.Params, Includes: rc.Includes, Local: local})
		}}
	site, err := config.Parse("remote.yaml", remoteSite(base, includes, timeout, 30*time.Second, false), reg)
	if err != nil {
		t.Fatal(err)
	}
	return site
}

// TestRemoteSite: the generated configuration places includes of frag
// with i = 0, 1, …, with the given timeout and a 30 s budget.
func TestRemoteSite(t *testing.T) {
	c := remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	site := parseRemoteSite(t, c, "http://127.0.0.1:9", 1000, 50*time.Millisecond)
	if len(site.Pages) != 1 {
		t.Fatalf("%d pages", len(site.Pages))
	}
	p := site.Pages[0]
	if p.Path != remotePath || p.Budget != 30*time.Second || len(p.Includes) != 1000 {
		t.Fatalf("page %s, budget %v, %d includes", p.Path, p.Budget, len(p.Includes))
	}
	for k, in := range p.Includes {
		if in.Fragment != "frag" || len(in.Params) != 1 || in.Params[0].Name != "i" || in.Params[0].Value != strconv.Itoa(k) {
			t.Fatalf("include %d: %+v", k, in)
		}
	}
	if f := site.Fragments["frag"]; f == nil || f.Settings.Timeout != 50*time.Millisecond || f.Settings.Fallback != "" {
		t.Fatalf("frag: %+v", f)
	}
}

// TestRemotePageCounts composes the remote page from a fragsim service
// whose slow fragments never answer in time, and checks the markers the
// workloads count against what the composer really writes: the fast
// fragments present, the slow ones missing (placeholders) and served as
// timeouts in the debug outcomes.
func TestRemotePageCounts(t *testing.T) {
	sim, err := fragsim.New(fragsim.Options{SlowEvery: 5, SlowLatency: time.Hour, Bytes: 100,
		CacheControl: "max-age=30", SlowCacheControl: "no-store"})
	if err != nil {
		t.Fatal(err)
	}
	svc := httptest.NewServer(sim)
	defer svc.Close()
	c := remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	// Long enough for the fast fragments on a busy machine; the slow ones
	// take all of it.
	site := parseRemoteSite(t, c, svc.URL, 20, 2*time.Second)
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage, Logger: quiet})
	defer comp.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+remotePath, func(w http.ResponseWriter, r *http.Request) {
		comp.Serve(w, r, composer.Request{Page: site.Pages[0], Query: r.URL.Query(), Start: time.Now(), Debug: r.URL.Query().Get("debug") == "1"})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s := &suite{o: &options{maxRequests: 1, remoteBudget: 30 * time.Second}}
	pr := remotePresence(breakerMarker, outcomeMarker("frag", "timeout"), outcomeMarker("frag", "error"), outcomeMarker("frag", "miss"))
	rep, err := loadtest.Run(t.Context(), s.remoteLoad(srv.URL, true, 1, 0, pr))
	if err != nil {
		t.Fatal(err)
	}
	f := summarize(rep.Pages, pr, time.Time{}, time.Time{}, 0, 16)
	if f.Pages != 1 || f.OK != 1 || f.Present.Min != 16 || f.Missing.Min != 4 || f.Full != 1 {
		t.Fatalf("figures %+v, want one whole page with 16 fragments present and 4 missing", f)
	}
	// A slow include ends as a timeout, or as an error when the client's
	// own deadline is seen first.
	m := f.Mentions
	if m[outcomeMarker("frag", "timeout")]+m[outcomeMarker("frag", "error")] != 4 || m[outcomeMarker("frag", "miss")] != 16 {
		t.Errorf("debug outcomes %v, want 4 timeouts or errors and 16 misses", m)
	}
	// Without debug, the fast fragments now come from the cache.
	rep, err = loadtest.Run(t.Context(), s.remoteLoad(srv.URL, false, 1, 0, remotePresence()))
	if err != nil {
		t.Fatal(err)
	}
	if f := summarize(rep.Pages, remotePresence(), time.Time{}, time.Time{}, 0, 16); f.Present.Min != 16 || f.Missing.Min != 4 {
		t.Errorf("second page %+v, want 16 present and 4 missing", f)
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pr := newPresence([]string{"p1", "p2"}, []string{"m"}, []string{"i"})
	page := func(at time.Duration, ttlb time.Duration, status int, markers ...int64) loadtest.PageResult {
		return loadtest.PageResult{Start: t0.Add(at), TTLB: ttlb, Status: status, Complete: status == 200, Markers: markers}
	}
	pages := []loadtest.PageResult{
		page(0, 10*time.Millisecond, 200, 5, 5, 0, 1),
		page(100*time.Millisecond, 20*time.Millisecond, 200, 3, 4, 3, 0),
		page(200*time.Millisecond, 30*time.Millisecond, 503, 0, 0, 0, 0),
		{Start: t0.Add(300 * time.Millisecond), TTLB: time.Second, Err: errors.New("refused"), Markers: []int64{0, 0, 0, 0}},
		page(time.Second, 40*time.Millisecond, 200, 9, 1, 0, 2),
	}
	f := summarize(pages, pr, t0, t0.Add(time.Second), time.Second, 10)
	if f.Pages != 4 || f.OK != 2 || f.Transport != 1 || f.Status[200] != 2 || f.Status[503] != 1 || f.PerSecond != 4 {
		t.Errorf("counts %+v", f)
	}
	// Present: 10, 7, and 0 for the 503; missing 0, 3, 0.
	if f.Present != (countStats{0, 7, 10}) || f.Missing != (countStats{0, 0, 3}) || f.Full != 1 {
		t.Errorf("present %+v missing %+v full %d", f.Present, f.Missing, f.Full)
	}
	if f.TTLB.Max != 30*time.Millisecond || f.TTLB.P50 != 20*time.Millisecond || f.Mentions["i"] != 1 {
		t.Errorf("ttlb %+v mentions %v", f.TTLB, f.Mentions)
	}
	rest := summarize(pages, pr, t0.Add(time.Second), time.Time{}, 0, 10)
	if rest.Pages != 1 || rest.Full != 1 || rest.Mentions["i"] != 2 {
		t.Errorf("rest %+v", rest)
	}
	if d, ok := firstEnd(pages, t0.Add(50*time.Millisecond), t0, func(p *loadtest.PageResult) bool { return p.Markers[2] > 0 }); !ok || d != 120*time.Millisecond {
		t.Errorf("firstEnd = %v, %v; want 120ms", d, ok)
	}
	if _, ok := firstEnd(pages, t0.Add(2*time.Second), t0, func(*loadtest.PageResult) bool { return true }); ok {
		t.Error("firstEnd found a page after the last")
	}
}

func TestPercentilesOf(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)*time.Millisecond)
	}
	p := percentilesOf(ds)
	if p.P50 != 50*time.Millisecond || p.P90 != 90*time.Millisecond || p.P99 != 99*time.Millisecond || p.Max != 100*time.Millisecond {
		t.Errorf("percentiles %+v", p)
	}
	if p := percentilesOf([]time.Duration{7}); p.P50 != 7 || p.P99 != 7 {
		t.Errorf("one value: %+v", p)
	}
	if p := percentilesOf(nil); p.Max != 0 {
		t.Errorf("none: %+v", p)
	}
	if c := countsOf([]int64{4, 1, 3, 2}); c != (countStats{1, 2, 4}) {
		t.Errorf("countsOf = %+v", c)
	}
}

func TestWantFast(t *testing.T) {
	o := &options{remoteIncludes: 1000}
	if n := o.wantFast(100); n != 990 {
		t.Errorf("wantFast(100) = %d", n)
	}
	if n := o.wantFast(0); n != 1000 {
		t.Errorf("wantFast(0) = %d", n)
	}
}

// TestBreakerEvents reads breaker changes from a log written as the
// composer writes it (slog's JSON handler), skipping everything else.
func TestBreakerEvents(t *testing.T) {
	start := time.Now()
	path := filepath.Join(t.TempDir(), "composer.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(f, nil))
	fmt.Fprintln(f, "not json")
	log.Warn("remote: breaker", "host", "http://127.0.0.1:1", "from", "closed", "to", "open")
	log.Warn("something else", "from", "a", "to", "b")
	log.Warn("remote: breaker", "host", "http://127.0.0.1:1", "from", "open", "to", "half-open")
	log.Warn("remote: breaker", "host", "http://127.0.0.1:1", "from", "half-open", "to", "closed")
	f.Close()

	ev, err := breakerEvents(path, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 3 || ev[0].To != "open" || ev[1].From != "open" || ev[2].To != "closed" || ev[0].AtS < 0 || ev[2].AtS < ev[0].AtS {
		t.Fatalf("events %+v", ev)
	}
	if _, err := breakerEvents(filepath.Join(t.TempDir(), "none"), start); err == nil {
		t.Error("no error for a missing log")
	}

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev = []breakerEvent{{1, "closed", "open"}, {6, "open", "half-open"}, {6.5, "half-open", "closed"}}
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		s    float64
		want string
	}{{0.5, "closed"}, {2, "open"}, {6.2, "half-open"}, {7, "closed"}} {
		if got := breakerStateAt(ev, t0, at(tc.s)); got != tc.want {
			t.Errorf("state at %v = %s, want %s", tc.s, got, tc.want)
		}
	}
	if d, ok := firstBreakerEvent(ev, t0, at(0.25), "open"); !ok || d != 750*time.Millisecond {
		t.Errorf("open after %v, %v; want 750ms", d, ok)
	}
	if d, ok := firstBreakerEvent(ev, t0, at(2), "closed"); !ok || d != 4500*time.Millisecond {
		t.Errorf("closed after %v, %v; want 4.5s", d, ok)
	}
	if _, ok := firstBreakerEvent(ev, t0, at(2), "open"); ok {
		t.Error("an open after the last open")
	}
}

// TestWorkloadTargets: the verdicts need whole pages, not only fast ones,
// and do not judge the breaker's opening when it was not closed at the
// kill.
func TestWorkloadTargets(t *testing.T) {
	o, err := parseFlags([]string{"-only", "remote"})
	if err != nil {
		t.Fatal(err)
	}
	whole := pageFigures{Pages: 10, OK: 10, Full: 10, Present: countStats{990, 990, 990}, TTLB: loadtest.Percentiles{P50: 55 * time.Millisecond, P99: 70 * time.Millisecond}}
	empty := pageFigures{Pages: 10, OK: 10, Present: countStats{0, 0, 0}, TTLB: loadtest.Percentiles{P50: 5 * time.Millisecond}}
	for _, tc := range []struct {
		name string
		res  results
		want []string
	}{
		{"fast but empty pages", results{
			Flaky: []flakyResult{{Run: 1, Rest: empty, C1: empty}},
			First: []firstResult{{Run: 1, MedianMS: 60, Starts: []firstPage{{TTLBMS: 60, Present: 0}}}},
		}, []string{
			"every page holds ≥ 990 fragments | fewest on a page 0; 0 / 10 pages hold ≥ 990 | **not met**",
			"holding ≥ 990 fragments | TTLB p50 5.0 ms (median of runs); fewest fragments on a page 0 | **not met**",
			"fewest fragments on a first page 0 of 1000 | **not met**",
		}},
		{"whole pages", results{
			Flaky: []flakyResult{{Run: 1, Rest: whole, C1: whole}},
			First: []firstResult{{Run: 1, MedianMS: 60, Starts: []firstPage{{TTLBMS: 60, Present: 1000}}}},
			Down: []downResult{{Run: 1, AtKill: "closed", OpenMS: 400, InUseMS: 1500, BreakerMS: 410,
				Before: pageFigures{PerSecond: 100}, Down: pageFigures{PerSecond: 95}}},
		}, []string{
			"every page holds ≥ 990 fragments | fewest on a page 990; 10 / 10 pages hold ≥ 990 | met",
			"fewest fragments on a page 990 | met",
			"fewest fragments on a first page 1000 of 1000 | met",
			"logged open 400 ms after the kill (worst run) | met",
			"down / before: 0.95 | met",
			"after 1500 ms (worst run) | met",
		}},
		{"breaker open at the kill, never back", results{
			Down: []downResult{{Run: 1, AtKill: "open", OpenMS: -1, InUseMS: -1, BreakerMS: -1}},
		}, []string{
			"the breaker was not closed at the kill (run 1: open) | not measured",
			"after never ms (worst run) | **not met**",
		}},
	} {
		var b strings.Builder
		writeWorkloadsMarkdown(&b, &tc.res, o)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, b.String())
			}
		}
	}
}

// TestRemoteSiteH2C: with h2c the remote fragment is declared h2c, which
// the configuration accepts for the service's http:// URL.
func TestRemoteSiteH2C(t *testing.T) {
	var got config.RemoteConfig
	reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots(),
		Remote: func(name string, rc config.RemoteConfig, local *composer.Spec) (*composer.Spec, error) {
			got = rc
			return remote.New(remote.Options{Logger: quiet}).Spec(remote.Config{Name: name, URL: rc.URL, Params: rc.Params, H2C: rc.H2C, Local: local})
		}}
	if _, err := config.Parse("remote.yaml", remoteSite("http://127.0.0.1:1", 3, 50*time.Millisecond, 30*time.Second, true), reg); err != nil {
		t.Fatal(err)
	}
	if !got.H2C {
		t.Errorf("h2c not declared: %+v", got)
	}
}
