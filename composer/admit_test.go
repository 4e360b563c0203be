package composer

import (
	"context"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/internal/wait"
)

// TestAdmissionByExpectedIncludes: with pages of many includes in
// flight, another such page is refused at once (503, Retry-After) while a
// small page is still served, even past the bound; a large page alone is
// always served.
func TestAdmissionByExpectedIncludes(t *testing.T) {
	site := scoresSite(100, 0)
	var block atomic.Bool
	release := make(chan struct{})
	hold := &Spec{Name: "hold", Defaults: Settings{Timeout: time.Minute},
		Render: func(ctx context.Context, _ Params) (templ.Component, error) {
			if block.Load() {
				<-release
			}
			return text("<p>held</p>"), nil
		}}
	site.Fragments["hold"] = &Fragment{Spec: hold, Settings: hold.Defaults}
	site.Fragments["hold"].Settings.Primary = true
	big := site.Pages[0]
	big.Includes = append(big.Includes, &PageInclude{Fragment: "hold", Slot: "main"})
	small := &Page{Name: "small", Path: "/small", Layout: "test", Includes: []*PageInclude{{Fragment: "score", Slot: "main", Params: []Binding{{Name: "match", Value: "m0001"}}}}}
	site.Pages = append(site.Pages, small)
	site.Limits.Budget = time.Minute
	c := newTestComposer(t, site, Options{MaxIncludesInFlight: 110})
	servePage := func(p *Page) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		c.Serve(rec, httptest.NewRequest("GET", p.Path, nil), Request{Page: p, Start: time.Now()})
		return rec
	}
	if rec := servePage(big); rec.Code != 200 {
		t.Fatalf("a large page alone: status %d", rec.Code)
	}
	block.Store(true)
	done := make(chan int)
	go func() { done <- servePage(big).Code }()
	wait.For(t, "the first page in flight", func() bool { return c.IncludesInFlight() != 0 })
	rec := servePage(big)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a second large page: status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := servePage(small); rec.Code != 200 {
		t.Errorf("a small page beside it: status %d", rec.Code)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("the first large page: status %d", code)
	}
	if n := c.IncludesInFlight(); n != 0 {
		t.Errorf("%d includes still reserved", n)
	}
	if c.Stats().Refused.Load() != 1 {
		t.Errorf("%d pages refused, want 1", c.Stats().Refused.Load())
	}
}

// TestAdmissionExpectsByKey: a page's expected includes are learnt for
// each key (the request values its includes bind) as well as for the
// page: while a large scores page is in flight, a page of 50 that was seen
// before is admitted — expected at the page's average, raised by pages of
// 900, it was refused (503) — and one of 900 is refused.
func TestAdmissionExpectsByKey(t *testing.T) {
	site := scoresSite(100, 0)
	board := site.Fragments["scoreboard"].Spec
	render := board.Render
	release := make(chan struct{})
	board.Render = func(ctx context.Context, p Params) (templ.Component, error) {
		if p.Get("size") == "901" {
			<-release // the large page held
		}
		return render(ctx, p)
	}
	page := site.Pages[0]
	page.Includes[0].Params = []Binding{{Name: "size", From: "query", Value: "size"}}
	site.Limits.Budget = time.Minute
	c := newTestComposer(t, site, Options{MaxIncludesInFlight: 1000})
	serveSize := func(size string) int {
		rec := httptest.NewRecorder()
		q := url.Values{"size": {size}}
		// Debug: composed every time, never served whole from a kept page.
		c.Serve(rec, httptest.NewRequest("GET", "/?size="+size, nil), Request{Page: page, Query: q, Start: time.Now(), Debug: true})
		return rec.Code
	}
	for _, size := range []string{"50", "900", "900", "900", "900"} {
		if code := serveSize(size); code != 200 {
			t.Fatalf("size %s alone: status %d", size, code)
		}
	}
	done := make(chan int)
	go func() { done <- serveSize("901") }()
	wait.For(t, "the large page in flight", func() bool { return c.IncludesInFlight() != 0 })
	if code := serveSize("50"); code != 200 {
		t.Errorf("a page of 50 beside a large one (limit 1,000): status %d, want 200", code)
	}
	if code := serveSize("900"); code != 503 {
		t.Errorf("a page of 900 beside it: status %d, want 503", code)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("the held page: status %d", code)
	}
}
