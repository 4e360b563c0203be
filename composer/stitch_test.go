package composer

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/internal/wait"
)

// league is a site of nested includes for the stitching tests: the page
// places a section, the section two boards, each board its scores. Scores
// read their text from the league, so a test can change one and refresh it.
type league struct {
	mu     sync.Mutex
	scores map[string]string
	calls  atomic.Int64 // score renders
}

func newLeague() *league { return &league{scores: map[string]string{}} }

func (lg *league) set(match, score string) {
	lg.mu.Lock()
	lg.scores[match] = score
	lg.mu.Unlock()
}

func (lg *league) score(match string) string {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if s, ok := lg.scores[match]; ok {
		return s
	}
	return "0–0"
}

// site returns a fresh Site (its own Specs) over the league's data; boards
// hold perBoard scores each.
func (lg *league) site(perBoard int, fresh time.Duration) *Site {
	set := Settings{Timeout: time.Second, Fresh: fresh, Stale: time.Hour, Fallback: "<i>n/a</i>"}
	score := &Spec{Name: "score", Params: []ParamSpec{{Name: "match", Required: true, Pattern: `m[0-9]+`}},
		Assets: []string{"/static/score.css", "/static/live.js"}, Defaults: set,
		Render: func(_ context.Context, p Params) (templ.Component, error) {
			lg.calls.Add(1)
			m := p.Get("match")
			return text("<li>" + m + " " + lg.score(m) + "</li>"), nil
		}}
	board := &Spec{Name: "board", Includes: []string{"score"}, Params: []ParamSpec{{Name: "n", Pattern: `[0-9]+`}},
		Assets: []string{"/static/board.css"}, Defaults: set,
		Render: func(_ context.Context, p Params) (templ.Component, error) {
			var b strings.Builder
			b.WriteString("<ol>")
			for i := range perBoard {
				b.WriteString(IncludeTag("score", "match", fmt.Sprintf("m%s%02d", p.Get("n"), i)))
			}
			b.WriteString("</ol>")
			return text(b.String()), nil
		}}
	section := &Spec{Name: "section", Includes: []string{"board"}, Defaults: set,
		Render: func(context.Context, Params) (templ.Component, error) {
			return text("<section>" + IncludeTag("board", "n", "1") + "<hr>" + IncludeTag("board", "n", "2") + "</section>"), nil
		}}
	s := testSite([]*Spec{score, board, section, static("nav", "<nav>nav</nav>")}, 5*time.Second, "nav", "section")
	s.Pages[0].Layout = "head"
	return s
}

// pair serves the same site from a stitching composer and from one that
// looks every include up, so that a test can check they serve the same.
type pair struct {
	t             *testing.T
	lg            *league
	stitch, plain *Composer
	obs           *countObserver
}

func newPair(t *testing.T, perBoard int, fresh time.Duration, opts Options) *pair {
	lg := newLeague()
	p := &pair{t: t, lg: lg, obs: &countObserver{n: map[string]int{}}}
	opts.Observer = p.obs
	p.stitch = newTestComposer(t, lg.site(perBoard, fresh), opts)
	p.plain = newTestComposer(t, lg.site(perBoard, fresh), Options{StitchBytes: -1})
	// A cold page: where its includes' assets go depends on when they
	// settle; warm pages are compared.
	serve(p.stitch, "")
	serve(p.plain, "")
	return p
}

// same serves the page from both composers and fails unless they agree,
// head and body; it returns the body. It waits first for the results of
// earlier pages' calls to be in L1 (see waitInL1).
func (p *pair) same(query string) string {
	p.t.Helper()
	waitInL1(p.t, p.stitch)
	waitInL1(p.t, p.plain)
	a, b := serve(p.stitch, query), serve(p.plain, query)
	if a.Code != b.Code || body(a) != body(b) {
		p.t.Fatalf("stitching composer served %d\n%s\nthe other %d\n%s", a.Code, body(a), b.Code, body(b))
	}
	if la, lb := strings.Join(a.Header().Values("Link"), ","), strings.Join(b.Header().Values("Link"), ","); la != lb {
		p.t.Fatalf("Link headers %q, want %q", la, lb)
	}
	return body(a)
}

// countObserver counts includes per fragment, as many as each event
// stands for.
type countObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countObserver) Include(ev IncludeEvent) {
	o.mu.Lock()
	o.n[ev.Fragment+"/"+ev.Outcome.String()] += ev.N()
	o.mu.Unlock()
}

func (o *countObserver) Includes(evs []IncludeEvent) {
	for i := range evs {
		o.Include(evs[i])
	}
}

func (o *countObserver) Page(string, int, time.Duration) {}

func (o *countObserver) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[key]
}

// TestStitchedPageIsThePage: a warm page of nested includes is served
// stitched, byte for byte the page a composer looking every include up
// serves (assets placed in the head, scripts before </body>, the same
// Link headers), and the Observer still hears of every include — kept
// whole (see stitch.go), or, without stitched pages, as stitched subtrees.
func TestStitchedPageIsThePage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages bool
		want  int64
	}{
		// The first warm page (newPair served the cold one) is written
		// and kept whole; the next four are served whole: 44 includes.
		{"whole pages", true, 4 * 44},
		// The first warm page stitches the section's subtree as it is
		// written; the next four serve it: 2 boards and 40 scores.
		{"subtrees", false, 4 * 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 20, time.Hour, Options{})
			if !tc.pages {
				p.stitch.pages.Close()
				p.stitch.pages = nil
			}
			for i := range 5 {
				b := p.same("")
				if i == 0 && (!strings.Contains(b, `<link rel="stylesheet" href="/static/board.css">`) || !strings.Contains(b, "<li>m219 0–0</li>") ||
					!strings.Contains(b, `<script src="/static/live.js" defer></script></body>`)) {
					t.Fatalf("page: %s", b)
				}
			}
			if got := p.stitch.Stats().Stitched.Load(); got != tc.want {
				t.Errorf("includes served stitched: %d, want %d", got, tc.want)
			}
			testStitchedCounts(t, p)
		})
	}
}

func testStitchedCounts(t *testing.T, p *pair) {
	t.Helper()
	if got := p.plain.Stats().Stitched.Load(); got != 0 {
		t.Errorf("StitchBytes -1 served %d includes stitched", got)
	}
	if got := p.obs.get("score/hit"); got != 5*40 {
		t.Errorf("score hits observed: %d, want %d", got, 5*40)
	}
	if got := p.obs.get("board/hit"); got != 5*2 {
		t.Errorf("board hits observed: %d, want %d", got, 5*2)
	}
	if n := p.lg.calls.Load(); n != 2*40 { // each composer's first page
		t.Errorf("%d score calls, want 80", n)
	}
}

// TestStitchedPageFollowsEveryChange: whatever changes an include — an
// event's refresh, another instance's drop, a purge, a new generation, a
// new configuration — the next page shows it, exactly as a composer
// looking every include up does.
func TestStitchedPageFollowsEveryChange(t *testing.T) {
	p := newPair(t, 10, time.Hour, Options{})
	for range 3 {
		p.same("")
	}
	refresh := func(match string) {
		for _, c := range []*Composer{p.stitch, p.plain} {
			prm, err := NewParams(c.Site().Fragments["score"].Spec, map[string]string{"match": match})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Refresh(context.Background(), Target{Fragment: "score", Params: prm, Key: Key("score", prm)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"refresh", func() { p.lg.set("m105", "1–0"); refresh("m105") }, "<li>m105 1–0</li>"},
		{"drop", func() {
			p.lg.set("m203", "2–2")
			for _, c := range []*Composer{p.stitch, p.plain} {
				prm, _ := NewParams(c.Site().Fragments["score"].Spec, map[string]string{"match": "m203"})
				c.DropKey(Key("score", prm), time.Now())
			}
		}, "<li>m203 2–2</li>"},
		{"purge", func() {
			p.lg.set("m100", "3–1")
			p.stitch.Purge("score")
			p.plain.Purge("score")
		}, "<li>m100 3–1</li>"},
		{"generation", func() {
			p.lg.set("m101", "4–1")
			p.stitch.ApplyGeneration("score", 7)
			p.plain.ApplyGeneration("score", 7)
		}, "<li>m101 4–1</li>"},
		{"kill switch", func() {
			for _, c := range []*Composer{p.stitch, p.plain} {
				s := *c.Site()
				s.Fragments = map[string]*Fragment{}
				for n, f := range c.Site().Fragments {
					nf := *f
					if n == "score" {
						nf.Settings.Disabled = true
					}
					s.Fragments[n] = &nf
				}
				c.SetSite(&s)
			}
		}, "<i>n/a</i>"},
	}
	for _, st := range steps {
		st.do()
		// The first page after a change calls the changed includes: where
		// their assets go (the head, or beside them) depends on when they
		// settle, so the pages are compared from the second on.
		for _, c := range []*Composer{p.stitch, p.plain} {
			if b := body(serve(c, "")); !strings.Contains(b, st.want) {
				t.Fatalf("%s, first page: %q missing from %s", st.name, st.want, b)
			}
		}
		for i := range 3 { // looked up and stitched, then stitched
			if b := p.same(""); !strings.Contains(b, st.want) {
				t.Fatalf("%s, page %d: %q missing from %s", st.name, i+2, st.want, b)
			}
		}
	}
	if p.stitch.Stats().Stitched.Load() == 0 {
		t.Fatal("nothing was served stitched")
	}
}

// TestStitchedPageRefreshesStaleParts: a stitched subtree lives no longer
// than its freshest part: once a score turns stale, the page serves it
// stale and refreshes it, as it would unstitched.
func TestStitchedPageRefreshesStaleParts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, 5, time.Minute, Options{})
		for range 3 {
			p.same("")
		}
		before := p.stitch.Stats().Stitched.Load()
		p.lg.set("m102", "9–9")
		time.Sleep(61 * time.Second)
		p.same("")              // stale: served as it was, refreshed behind
		time.Sleep(time.Second) // the refreshes are done
		if got := p.stitch.Stats().Stitched.Load(); got != before {
			t.Fatalf("a stale subtree was served stitched (%d → %d)", before, got)
		}
		if b := p.same(""); !strings.Contains(b, "<li>m102 9–9</li>") {
			t.Fatalf("after the refresh: %s", b)
		}
	})
}

// TestDebugPagesAreNotStitched: a debug page marks every include, stitched
// subtree or not.
func TestDebugPagesAreNotStitched(t *testing.T) {
	p := newPair(t, 5, time.Hour, Options{})
	for range 3 {
		p.same("")
	}
	b := body(serve(p.stitch, "debug=1"))
	if n := strings.Count(b, `<bs-frag data-fragment="score" data-outcome="hit"`); n != 10 {
		t.Fatalf("%d score markers on a debug page, want 10: %s", n, b)
	}
}

// TestStitchedPageKeepsIncludeLimits: the page's include and depth limits
// settle the same includes whether a subtree is stitched or not.
func TestStitchedPageKeepsIncludeLimits(t *testing.T) {
	for _, lim := range []struct{ includes, depth int }{{30, 8}, {16, 8}, {100, 2}} {
		lg := newLeague()
		mk := func(opts Options) *Composer {
			s := lg.site(10, time.Hour)
			// A second section, and a board of the section's placed
			// on the page itself: at depth 1 its scores are within a
			// depth limit of 2, inside the section they are not.
			s.Pages[0].Includes = append(s.Pages[0].Includes, &PageInclude{Fragment: "section", Slot: "main"},
				&PageInclude{Fragment: "board", Slot: "main", Params: []Binding{{Name: "n", Value: "1"}}})
			s.Limits.MaxIncludes, s.Limits.MaxDepth = lim.includes, lim.depth
			return newTestComposer(t, s, opts)
		}
		p := &pair{t: t, lg: lg, stitch: mk(Options{}), plain: mk(Options{StitchBytes: -1})}
		// Cold, the limits settle whichever includes come last, which
		// differs from one page to the next; warm, the includes last in
		// document order. The second page calls what the first did not.
		for range 2 {
			serve(p.stitch, "")
			serve(p.plain, "")
			waitInL1(t, p.stitch)
			waitInL1(t, p.plain)
		}
		for range 4 {
			p.same("")
		}
	}
}

// waitInL1 waits until every call's result is in L1: until then a page
// takes results still on their way there from their calls, settling them
// (and resolving their includes) on other goroutines, in no set order.
func waitInL1(t testing.TB, c *Composer) {
	t.Helper()
	wait.For(t, "every call's result in L1", func() bool { return c.flights.Len() == 0 })
}

// TestPerReaderSubtreesAreNotStitched: a subtree holding a per-reader
// include is looked up on every request.
func TestPerReaderSubtreesAreNotStitched(t *testing.T) {
	mine := static("mine", "")
	mine.NeedsReader = true
	mine.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
		return text("<p>for " + ReaderFrom(ctx) + "</p>"), nil
	}
	box := static("box", "<div>"+IncludeTag("mine")+IncludeTag("leaf")+"</div>")
	box.Includes = []string{"mine", "leaf"}
	c := newTestComposer(t, testSite([]*Spec{mine, box, static("leaf", "L")}, time.Second, "box"), Options{})
	for i := range 4 {
		reader := fmt.Sprintf("r%d", i)
		rec := httptest.NewRecorder()
		c.Serve(rec, httptest.NewRequest("GET", "/", nil), Request{Page: c.Site().Pages[0], Start: time.Now(), Reader: reader})
		if want := "<div><p>for " + reader + "</p>L</div>"; !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("reader %s got %s", reader, rec.Body.String())
		}
	}
	if n := c.Stats().Stitched.Load(); n != 0 {
		t.Fatalf("%d includes served stitched", n)
	}
}

// TestStitchedBytesAreBounded: stitched subtrees stay within StitchBytes,
// and their memory is given back when their entries leave L1.
func TestStitchedBytesAreBounded(t *testing.T) {
	lg := newLeague()
	small := newTestComposer(t, lg.site(20, time.Hour), Options{StitchBytes: 200})
	for range 3 {
		serve(small, "")
	}
	if n, b := small.Stats().Stitched.Load(), small.StitchedBytes(); n != 0 || b != 0 {
		t.Fatalf("200 bytes allowed: %d includes served stitched, %d bytes held", n, b)
	}
	c := newTestComposer(t, lg.site(20, time.Hour), Options{})
	for range 3 {
		serve(c, "")
	}
	// Every entry in L1 first: one still on its way there (its page took
	// it from its call) would arrive after the purges below, stitched
	// subtree and all — held by L1 then, rightly.
	waitInL1(t, c)
	if c.StitchedBytes() < int64(40*len("<li>m100 0–0</li>")) {
		t.Fatalf("%d bytes held by stitched subtrees", c.StitchedBytes())
	}
	c.Purge("section")
	if b := c.StitchedBytes(); b == 0 {
		t.Fatal("the boards' stitched subtrees went with the section's")
	}
	c.Purge("board")
	if b := c.StitchedBytes(); b != 0 {
		t.Fatalf("%d bytes still held once the section and boards left L1", b)
	}
}

// TestStitchedPageUnderConcurrentChanges: pages served while scores
// change concurrently (run with -race) show, once the changes stop, every
// last score.
func TestStitchedPageUnderConcurrentChanges(t *testing.T) {
	lg := newLeague()
	c := newTestComposer(t, lg.site(25, time.Hour), Options{})
	spec := c.Site().Fragments["score"].Spec
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if rec := serve(c, ""); rec.Code != 200 || strings.Count(body(rec), "<li>") != 50 {
					t.Errorf("status %d: %s", rec.Code, body(rec))
					return
				}
			}
		})
	}
	for i := range 200 {
		m := fmt.Sprintf("m%d%02d", 1+i%2, i%25)
		lg.set(m, fmt.Sprintf("%d–0", i))
		prm, _ := NewParams(spec, map[string]string{"match": m})
		if _, err := c.Refresh(context.Background(), Target{Fragment: "score", Params: prm, Key: Key("score", prm)}); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	wg.Wait()
	before := c.Stats().Stitched.Load()
	for range 3 { // looked up and stitched, then stitched
		b := body(serve(c, ""))
		for i := 150; i < 200; i++ {
			if want := fmt.Sprintf("<li>m%d%02d %d–0</li>", 1+i%2, i%25, i); !strings.Contains(b, want) {
				e, _ := c.inL1(fmt.Sprintf("score?match=m%d%02d", 1+i%2, i%25), "1")
				t.Fatalf("%s missing (L1 has %q, stitched %d) from %s", want, e.HTML, c.Stats().Stitched.Load(), b)
			}
		}
	}
	if c.Stats().Stitched.Load() == before {
		t.Fatal("the last pages were not served stitched")
	}
}
