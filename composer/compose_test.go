package composer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
)

// text returns a component writing s as raw HTML (test fragments only).
func text(s string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

// testSite builds a Site from specs and a single page whose includes are
// given as "fragment" or "fragment?k=v" strings, all in slot "main".
func testSite(specs []*Spec, budget time.Duration, includes ...string) *Site {
	s := &Site{Limits: DefaultLimits, Fragments: map[string]*Fragment{}}
	s.Limits.Budget = budget
	for _, sp := range specs {
		if sp.Version == "" {
			sp.Version = "1"
		}
		s.Fragments[sp.Name] = &Fragment{Spec: sp, Settings: sp.Defaults}
	}
	p := &Page{Name: "test", Path: "/", Title: "Test", Layout: "test"}
	for _, inc := range includes {
		name, query, _ := strings.Cut(inc, "?")
		pi := &PageInclude{Fragment: name, Slot: "main"}
		if query != "" {
			for _, kv := range strings.Split(query, "&") {
				k, v, _ := strings.Cut(kv, "=")
				pi.Params = append(pi.Params, Binding{Name: k, Value: v})
			}
		}
		p.Includes = append(p.Includes, pi)
	}
	s.Pages = []*Page{p}
	return s
}

var testLayouts = map[string]Layout{
	"test": func(v *View) templ.Component {
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			io.WriteString(w, "<html><body><main>")
			if err := v.Slot("main").Render(ctx, w); err != nil {
				return err
			}
			_, err := io.WriteString(w, "</main></body></html>")
			return err
		})
	},
}

func newTestComposer(t testing.TB, site *Site, opts Options) *Composer {
	opts.Layouts = testLayouts
	c := New(site, opts)
	// No grace at a call's deadline for the machine's lateness: it is read
	// from the real scheduler, and would move the fake clock's deadlines
	// of synctest. TestCallGrace has its own.
	c.late = nil
	t.Cleanup(c.Close)
	return c
}

// serve composes the site's first page and returns the response.
func serve(c *Composer, query string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/?"+query, nil)
	c.Serve(rec, req, Request{Page: c.Site().Pages[0], Query: req.URL.Query(), Start: time.Now(), Debug: strings.Contains(query, "debug=1")})
	return rec
}

func static(name, html string) *Spec {
	return &Spec{Name: name, Render: func(context.Context, Params) (templ.Component, error) { return text(html), nil },
		Defaults: Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour}}
}

func body(rec *httptest.ResponseRecorder) string { return rec.Body.String() }

func TestComposeStitchesInDocumentOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Later includes finish first; the page must still be in order.
		mk := func(name string, d time.Duration) *Spec {
			s := static(name, "<p>"+name+"</p>")
			s.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
				time.Sleep(d)
				return text("<p>" + name + "</p>"), nil
			}
			return s
		}
		site := testSite([]*Spec{mk("a", 30*time.Millisecond), mk("b", 20*time.Millisecond), mk("c", 10*time.Millisecond)}, time.Second, "a", "b", "c")
		c := newTestComposer(t, site, Options{})
		rec := serve(c, "")
		want := "<html><body><main><p>a</p><p>b</p><p>c</p></main></body></html>"
		if got := body(rec); got != want {
			t.Fatalf("body = %q, want %q", got, want)
		}
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

func TestComposeIsConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var specs []*Spec
		var incs []string
		for i := range 50 {
			s := static(fmt.Sprintf("f%d", i), "x")
			s.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
				time.Sleep(40 * time.Millisecond)
				return text("x"), nil
			}
			specs = append(specs, s)
			incs = append(incs, s.Name)
		}
		c := newTestComposer(t, testSite(specs, time.Second, incs...), Options{})
		start := time.Now()
		rec := serve(c, "")
		// In the bubble time only moves when everything waits: 50 fragments
		// of 40 ms each take 40 ms of bubble time if they run concurrently.
		if el := time.Since(start); el != 40*time.Millisecond {
			t.Fatalf("page took %v of bubble time, want 40ms (concurrent fan-out)", el)
		}
		if n := strings.Count(body(rec), "x"); n != 50 {
			t.Fatalf("%d includes rendered, want 50", n)
		}
	})
}

// misbehaving fragments: each must cost only its own include.
func TestBudgetHoldsWhateverFragmentsDo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		hang := static("hang", "")
		hang.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
			<-release // ignores ctx entirely
			return text("late"), nil
		}
		hang.Defaults.Timeout = time.Second
		hang.Defaults.Fallback = "<i>hang-fallback</i>"
		busy := static("busy", "")
		busy.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
			time.Sleep(10 * time.Second) // ignores its context
			return text("busy"), nil
		}
		boom := static("boom", "")
		boom.Render = func(context.Context, Params) (templ.Component, error) { panic("kaboom") }
		boom.Defaults.Fallback = "<i>boom-fallback</i>"
		fail := static("fail", "")
		fail.Render = func(context.Context, Params) (templ.Component, error) { return nil, errors.New("nope") }
		ok := static("ok", "<b>ok</b>")

		site := testSite([]*Spec{hang, busy, boom, fail, ok}, 100*time.Millisecond, "hang", "busy", "boom", "fail", "ok")
		c := newTestComposer(t, site, Options{})
		start := time.Now()
		rec := serve(c, "debug=1")
		el := time.Since(start)
		if el > 100*time.Millisecond {
			t.Errorf("page took %v, budget is 100ms", el)
		}
		b := body(rec)
		for _, want := range []string{
			`data-fragment="hang" data-outcome="timeout"`, "<i>hang-fallback</i>",
			`data-fragment="busy" data-outcome="timeout"`, "<!-- bs: busy unavailable -->",
			`data-fragment="boom" data-outcome="error"`, "<i>boom-fallback</i>",
			`data-fragment="fail" data-outcome="error"`, "<!-- bs: fail unavailable -->",
			`data-fragment="ok" data-outcome="miss"`, "<b>ok</b>",
			"</html>",
		} {
			if !strings.Contains(b, want) {
				t.Errorf("page lacks %q:\n%s", want, b)
			}
		}
		if got := c.Stats().Panics.Load(); got != 1 {
			t.Errorf("panics counted = %d, want 1", got)
		}
		close(release)
		time.Sleep(11 * time.Second) // let the abandoned calls end
		if n := c.Stats().InFlight.Load(); n != 0 {
			t.Errorf("in flight after release = %d", n)
		}
	})
}

func TestFallbackOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mode atomic.Int32 // 0 ok, 1 fail
		f := static("f", "")
		f.Defaults = Settings{Timeout: 50 * time.Millisecond, Fresh: 10 * time.Second, Stale: time.Minute, Fallback: "<i>fb</i>"}
		f.Render = func(context.Context, Params) (templ.Component, error) {
			if mode.Load() == 1 {
				return nil, errors.New("down")
			}
			return text("<b>v1</b>"), nil
		}
		c := newTestComposer(t, testSite([]*Spec{f}, time.Second, "f"), Options{})
		if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="miss"`) || !strings.Contains(b, "<b>v1</b>") {
			t.Fatalf("first render: %s", b)
		}
		if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="hit"`) {
			t.Fatalf("second render should hit: %s", b)
		}
		mode.Store(1)
		time.Sleep(11 * time.Second) // past fresh, within stale
		// Stale is served at once while a refresh runs (and fails).
		if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="stale"`) || !strings.Contains(b, "<b>v1</b>") {
			t.Fatalf("stale render: %s", b)
		}
		time.Sleep(time.Second) // let the refresh fail
		if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="stale"`) {
			t.Fatalf("a failed refresh must keep the stale entry: %s", b)
		}
		time.Sleep(time.Minute) // past stale: fallback
		if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="error"`) || !strings.Contains(b, "<i>fb</i>") {
			t.Fatalf("fallback render: %s", b)
		}
		// No fallback: a placeholder comment naming the fragment.
		site := testSite([]*Spec{f}, time.Second, "f")
		site.Fragments["f"].Settings.Fallback = ""
		c.SetSite(site)
		if b := body(serve(c, "")); !strings.Contains(b, "<!-- bs: f unavailable -->") {
			t.Fatalf("placeholder render: %s", b)
		}
	})
}

func TestStaleRefreshRunsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		f := static("f", "")
		f.Defaults = Settings{Timeout: 50 * time.Millisecond, Fresh: time.Second, Stale: time.Minute}
		f.Render = func(context.Context, Params) (templ.Component, error) {
			calls.Add(1)
			time.Sleep(20 * time.Millisecond)
			return text("v"), nil
		}
		c := newTestComposer(t, testSite([]*Spec{f}, time.Second, "f"), Options{})
		serve(c, "")
		time.Sleep(2 * time.Second)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="stale"`) {
					t.Errorf("want stale: %s", b)
				}
			})
		}
		wg.Wait()
		time.Sleep(time.Second) // let the refresh finish
		if n := calls.Load(); n != 2 {
			t.Fatalf("calls = %d, want 2 (first render + one refresh)", n)
		}
	})
}

func TestKillSwitchServesFallbackWithoutCalling(t *testing.T) {
	var calls atomic.Int32
	f := static("f", "")
	f.Render = func(context.Context, Params) (templ.Component, error) { calls.Add(1); return text("v"), nil }
	site := testSite([]*Spec{f}, time.Second, "f")
	site.Fragments["f"].Settings.Disabled = true
	site.Fragments["f"].Settings.Fallback = "<i>off</i>"
	c := newTestComposer(t, site, Options{})
	if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="fallback"`) || !strings.Contains(b, "<i>off</i>") {
		t.Fatalf("kill switch: %s", b)
	}
	if calls.Load() != 0 {
		t.Fatal("a killed fragment was called")
	}
}

func TestPrimaries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		okSpec := static("lead", "<h1>lead</h1>")
		slow := static("slow", "")
		slow.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			return nil, ctx.Err()
		}
		missing := static("missing", "")
		missing.Render = func(context.Context, Params) (templ.Component, error) { return nil, ErrNotFound }
		side := static("side", "<p>side</p>")

		for _, tc := range []struct {
			name    string
			primary string
			status  int
			want    string
		}{
			{"resolved primary", "lead", 200, "<h1>lead</h1>"},
			{"failed primary", "slow", 503, "unavailable"},
			{"not found primary", "missing", 404, "nothing at this address"},
		} {
			site := testSite([]*Spec{okSpec, slow, missing, side}, 200*time.Millisecond, tc.primary, "side")
			site.Pages[0].Includes[0].Primary = true
			c := New(site, Options{Layouts: testLayouts})
			rec := serve(c, "")
			c.Close()
			if rec.Code != tc.status || !strings.Contains(body(rec), tc.want) {
				t.Errorf("%s: status %d, body %q; want %d containing %q", tc.name, rec.Code, body(rec), tc.status, tc.want)
			}
			if tc.status == 503 && rec.Header().Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", tc.name)
			}
		}
	})
}

func TestServerTimingHeader(t *testing.T) {
	site := testSite([]*Spec{static("a", "a")}, time.Second, "a")
	site.Pages[0].Includes[0].Primary = true
	c := newTestComposer(t, site, Options{})
	rec := serve(c, "")
	st := rec.Header().Get("Server-Timing")
	for _, phase := range []string{"plan;dur=", "lookup;dur=", "primaries;dur="} {
		if !strings.Contains(st, phase) {
			t.Errorf("Server-Timing %q lacks %s", st, phase)
		}
	}
	// Without primaries the head goes out before any lookup: plan only.
	c.SetSite(testSite([]*Spec{static("a", "a")}, time.Second, "a"))
	if st := serve(c, "").Header().Get("Server-Timing"); !strings.HasPrefix(st, "plan;dur=") || strings.Contains(st, "lookup") {
		t.Errorf("Server-Timing without primaries = %q", st)
	}
}

func TestNestedIncludes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		score := &Spec{Name: "score", Params: []ParamSpec{{Name: "match", Required: true, Pattern: `m[0-9]+`}},
			Defaults: Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour},
			Render: func(_ context.Context, p Params) (templ.Component, error) {
				time.Sleep(5 * time.Millisecond)
				return text("<li>" + p.Get("match") + "</li>"), nil
			}}
		board := &Spec{Name: "board", Includes: []string{"score"},
			Defaults: Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour},
			Render: func(context.Context, Params) (templ.Component, error) {
				var b strings.Builder
				b.WriteString("<ul>")
				for i := range 3 {
					b.WriteString(IncludeTag("score", "match", fmt.Sprintf("m%d", i), "junk", "ignored"))
				}
				b.WriteString(IncludeTag("score", "match", "<bad>"))
				b.WriteString(IncludeTag("board")) // not declared by board: refused
				b.WriteString("</ul>")
				return text(b.String()), nil
			}}
		c := newTestComposer(t, testSite([]*Spec{score, board}, time.Second, "board"), Options{})
		for range 2 { // cold, then warm
			b := body(serve(c, ""))
			want := "<html><body><main><ul><li>m0</li><li>m1</li><li>m2</li><!-- bs: score unavailable --><!-- bs: board unavailable --></ul></main></body></html>"
			if b != want {
				t.Fatalf("got  %s\nwant %s", b, want)
			}
		}
	})
}

func TestIncludeLimits(t *testing.T) {
	self := &Spec{Name: "deep", Includes: []string{"deep"}, Params: []ParamSpec{{Name: "n"}},
		Defaults: Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour}}
	self.Render = func(_ context.Context, p Params) (templ.Component, error) {
		return text("[" + p.Get("n") + IncludeTag("deep", "n", p.Get("n")+"x") + "]"), nil
	}
	site := testSite([]*Spec{self}, time.Second, "deep?n=a")
	site.Limits.MaxDepth = 3
	c := newTestComposer(t, site, Options{})
	if b := body(serve(c, "")); !strings.Contains(b, "[a[ax[axx<!-- bs: deep unavailable -->]]]") {
		t.Fatalf("depth limit: %s", b)
	}

	wide := &Spec{Name: "wide", Includes: []string{"leaf"}, Defaults: self.Defaults,
		Render: func(context.Context, Params) (templ.Component, error) {
			return text(strings.Repeat(IncludeTag("leaf"), 10)), nil
		}}
	site = testSite([]*Spec{wide, static("leaf", "L")}, time.Second, "wide")
	site.Limits.MaxIncludes = 6 // the page's own include + 5 leaves
	c2 := newTestComposer(t, site, Options{})
	b := body(serve(c2, ""))
	if n := strings.Count(b, "L"); n != 5 {
		t.Fatalf("count limit: %d leaves rendered, want 5: %s", n, b)
	}
}

func TestUndeclaredParamsNeverReachFragment(t *testing.T) {
	var seen atomic.Value
	f := &Spec{Name: "f", Params: []ParamSpec{{Name: "city", Default: "london"}},
		Defaults: Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour},
		Render: func(_ context.Context, p Params) (templ.Component, error) {
			seen.Store(p.Map())
			return text(p.Get("city")), nil
		}}
	site := testSite([]*Spec{f}, time.Second)
	site.Pages[0].Includes = []*PageInclude{{Fragment: "f", Slot: "main", Params: []Binding{{Name: "city", From: "query", Value: "city"}}}}
	c := newTestComposer(t, site, Options{})
	rec := serve(c, "city=paris&evil=%3Cscript%3E")
	if got := seen.Load().(map[string]string); len(got) != 1 || got["city"] != "paris" {
		t.Fatalf("fragment saw %v", got)
	}
	if strings.Contains(body(rec), "script") {
		t.Fatalf("undeclared param reflected: %s", body(rec))
	}
	// A bad query value on a non-primary include degrades that include.
	if b := body(serve(c, "city=%0d%0aSet-Cookie")); !strings.Contains(b, "<!-- bs: f unavailable -->") {
		t.Fatalf("bad param: %s", b)
	}
}

func TestClientGoneStopsWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := static("slow", "")
		slow.Defaults.Timeout = 10 * time.Second
		slow.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		c := newTestComposer(t, testSite([]*Spec{slow}, time.Minute, "slow"), Options{})
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			c.Serve(rec, req, Request{Page: c.Site().Pages[0], Start: time.Now()})
			close(done)
		}()
		time.Sleep(time.Millisecond)
		cancel()
		start := time.Now()
		<-done
		// Serve returned as soon as the client left, not at the budget or
		// the fragment's timeout.
		if el := time.Since(start); el != 0 {
			t.Fatalf("Serve returned %v after the client left", el)
		}
		if !strings.Contains(rec.Body.String(), "unavailable") {
			t.Fatalf("body: %s", rec.Body.String())
		}
		time.Sleep(10 * time.Second) // the abandoned call's own timeout
	})
}

// batchObserver records what an IncludeBatcher is handed.
type batchObserver struct {
	mu      sync.Mutex
	batches []int
	byFrag  map[string]int
	singles int
}

func (o *batchObserver) Include(ev IncludeEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.singles++
	o.byFrag[ev.Fragment]++
}

func (o *batchObserver) Includes(evs []IncludeEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches = append(o.batches, len(evs))
	for _, ev := range evs {
		o.byFrag[ev.Fragment]++
	}
}

func (o *batchObserver) Page(string, int, time.Duration) {}

// TestIncludeBatcherSeesEveryIncludeOnce: an IncludeBatcher gets every
// include of a page exactly once, in batches of at most observeBatch,
// all handed over by the time Serve returns.
func TestIncludeBatcherSeesEveryIncludeOnce(t *testing.T) {
	incs := make([]string, 0, 1300)
	for i := range 1300 {
		incs = append(incs, fmt.Sprintf("a?n=%d", i%7))
	}
	incs = append(incs, "b", "missing")
	a := static("a", "<i>a</i>")
	a.Params = []ParamSpec{{Name: "n", Pattern: `[0-9]+`}}
	obs := &batchObserver{byFrag: map[string]int{}}
	c := newTestComposer(t, testSite([]*Spec{a, static("b", "b")}, time.Second, incs...), Options{Observer: obs})
	for range 2 { // cold, then warm
		if rec := serve(c, ""); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.byFrag["a"] != 2600 || obs.byFrag["b"] != 2 || obs.byFrag["missing"] != 2 {
		t.Errorf("includes observed %v, want a 2600, b 2, missing 2", obs.byFrag)
	}
	if obs.singles != 0 {
		t.Errorf("%d includes observed one by one", obs.singles)
	}
	for _, n := range obs.batches {
		if n > observeBatch || n == 0 {
			t.Errorf("batch of %d (max %d)", n, observeBatch)
		}
	}
	if len(obs.batches) < 6 {
		t.Errorf("batches %v: want the 1,302 includes of each page in at least 3", obs.batches)
	}
}

// TestIncludeSettledAfterPageIsObservedOnce: when the client leaves while
// an include's call runs on, every include is still reported exactly once,
// whether the page's walk or the include's late finisher reports it.
func TestIncludeSettledAfterPageIsObservedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		slow := static("slow", "")
		slow.Defaults.Timeout = 10 * time.Second
		slow.Render = func(context.Context, Params) (templ.Component, error) {
			<-release // ignores its context
			return text("late"), nil
		}
		obs := &batchObserver{byFrag: map[string]int{}}
		c := newTestComposer(t, testSite([]*Spec{slow, static("a", "a")}, time.Minute, "a", "slow"), Options{Observer: obs})
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
		done := make(chan struct{})
		go func() {
			c.Serve(httptest.NewRecorder(), req, Request{Page: c.Site().Pages[0], Start: time.Now()})
			close(done)
		}()
		time.Sleep(time.Millisecond)
		cancel()
		<-done
		obs.mu.Lock()
		if obs.byFrag["a"] != 1 {
			t.Errorf("when the page ended: %v, want a once", obs.byFrag)
		}
		obs.mu.Unlock()
		close(release)
		time.Sleep(11 * time.Second)
		synctest.Wait()
		obs.mu.Lock()
		defer obs.mu.Unlock()
		if obs.byFrag["a"] != 1 || obs.byFrag["slow"] != 1 {
			t.Errorf("after the call: %v, want a and slow once each", obs.byFrag)
		}
	})
}
