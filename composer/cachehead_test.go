package composer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// serveReq composes the site's first page for a request built by mod.
func serveReq(c *Composer, method string, mod func(*http.Request, *Request)) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	hr := httptest.NewRequest(method, "/", nil)
	req := Request{Page: c.Site().Pages[0], Query: hr.URL.Query(), Start: time.Now()}
	if mod != nil {
		mod(hr, &req)
	}
	c.Serve(rec, hr, req)
	return rec
}

func ifNoneMatch(v string) func(*http.Request, *Request) {
	return func(hr *http.Request, _ *Request) { hr.Header.Set("If-None-Match", v) }
}

// versioned is a fragment whose output shows how many times it was made.
func versioned(name string, fresh, stale time.Duration, calls *atomic.Int64) *Spec {
	s := static(name, "")
	s.Defaults.Fresh, s.Defaults.Stale = fresh, stale
	s.Render = func(context.Context, Params) (templ.Component, error) {
		return text(fmt.Sprintf("<p>%s.%d</p>", name, calls.Add(1))), nil
	}
	return s
}

// TestCacheHeadersFollowIncludes: a cold page is not cacheable; a warm one
// is public for the smallest remaining freshness of its includes, with
// the smallest stale window beyond it, an ETag that holds while its
// includes do and changes when one is made again, and surrogate keys.
func TestCacheHeadersFollowIncludes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		site := testSite([]*Spec{versioned("a", time.Minute, time.Hour, &calls), versioned("b", 30*time.Second, 10*time.Minute, &calls)},
			time.Second, "a", "b")
		// The first calls wait at a gate until the cold page's head is out:
		// instant ones could otherwise be done before it is decided (they
		// run on goroutines of their own), which a busy machine showed.
		gate := make(chan struct{})
		for _, name := range []string{"a", "b"} {
			sp := site.Fragments[name].Spec
			render := sp.Render
			sp.Render = func(ctx context.Context, p Params) (templ.Component, error) {
				<-gate
				return render(ctx, p)
			}
		}
		c := newTestComposer(t, site, Options{})
		check := func(what string, rec *httptest.ResponseRecorder, cc string) string {
			t.Helper()
			if got := rec.Header().Get("Cache-Control"); rec.Code != 200 || got != cc {
				t.Fatalf("%s: %d Cache-Control %q, want %q", what, rec.Code, got, cc)
			}
			return rec.Header().Get("ETag")
		}
		var cold *httptest.ResponseRecorder
		served := make(chan struct{})
		go func() { cold = serve(c, ""); close(served) }()
		synctest.Wait() // the page waits for its calls, its head written
		close(gate)
		<-served
		if tag := check("cold", cold, "no-store"); tag != "" {
			t.Fatalf("cold page has ETag %s", tag)
		}
		synctest.Wait() // the results are in L1
		rec := serve(c, "")
		tag := check("warm", rec, "public, max-age=30, stale-while-revalidate=600")
		if !strings.HasPrefix(tag, `W/"`) {
			t.Fatalf("ETag %q", tag)
		}
		if got := rec.Header().Get("Surrogate-Key"); got != "a b a? b?" || rec.Header().Get("xkey") != got {
			t.Fatalf("Surrogate-Key %q, xkey %q", got, rec.Header().Get("xkey"))
		}
		if got := rec.Header().Values("Vary"); len(got) != 1 || got[0] != "Accept-Encoding" {
			t.Fatalf("public page varies on %q, want Accept-Encoding alone (its coding)", got)
		}
		time.Sleep(10 * time.Second)
		if got := check("10 s later", serve(c, ""), "public, max-age=20, stale-while-revalidate=600"); got != tag {
			t.Fatalf("ETag moved without a change: %s, %s", got, tag)
		}
		time.Sleep(25 * time.Second) // b is stale: served so, and made again
		if got := check("b stale", serve(c, ""), "public, max-age=0, stale-while-revalidate=595"); got != tag {
			t.Fatalf("ETag of the same includes: %s, %s", got, tag)
		}
		time.Sleep(2 * time.Millisecond) // the refresh's window
		synctest.Wait()
		rec = serve(c, "")
		if got := check("b made again", rec, "public, max-age=24, stale-while-revalidate=605"); got == tag || !strings.Contains(body(rec), "<p>b.3</p>") {
			t.Fatalf("ETag %s after b changed (was %s): %s", got, tag, body(rec))
		}
	})
}

// TestNotModified: If-None-Match naming the page's ETag (alone, in a list,
// weak or strong, or "*") is answered 304 with the page's caching headers
// and no body, from the page composed and from the page kept whole alike;
// anything else gets the page. HEAD gets the page's head alone.
func TestNotModified(t *testing.T) {
	var calls atomic.Int64
	site := testSite([]*Spec{versioned("a", time.Hour, time.Hour, &calls)}, time.Second, "a", "a?x=1")
	site.Pages[0].Layout = "head" // a page is kept whole only with a head for its assets
	c := newTestComposer(t, site, Options{})
	serve(c, "")
	waitInL1(t, c)
	composed := serveReq(c, "GET", nil)
	tag := composed.Header().Get("ETag")
	if tag == "" || composed.Header().Get("Cache-Control") == "no-store" {
		t.Fatalf("warm page: ETag %q, Cache-Control %q", tag, composed.Header().Get("Cache-Control"))
	}
	before := servedWhole(c)
	kept := serveReq(c, "GET", nil)
	if servedWhole(c) == before {
		t.Fatal("the page was not kept whole")
	}
	if got := kept.Header().Get("ETag"); got != tag || body(kept) != body(composed) {
		t.Fatalf("page kept whole: ETag %s, composed %s", got, tag)
	}
	for _, whole := range []bool{false, true} {
		if !whole {
			c.pages.Cache().InvalidateAll()
		}
		for _, tc := range []struct {
			inm  string
			want int
		}{
			{tag, 304},
			{strings.TrimPrefix(tag, "W/"), 304},
			{`"nope", ` + tag, 304},
			{"*", 304},
			{`"nope"`, 200},
			{"garbage", 200},
		} {
			rec := serveReq(c, "GET", ifNoneMatch(tc.inm))
			if rec.Code != tc.want {
				t.Errorf("whole %v, If-None-Match %q: %d, want %d", whole, tc.inm, rec.Code, tc.want)
			}
			if rec.Code == 304 && (rec.Body.Len() != 0 || rec.Header().Get("ETag") != tag ||
				rec.Header().Get("Cache-Control") != composed.Header().Get("Cache-Control")) {
				t.Errorf("304: body %q, headers %v", body(rec), rec.Header())
			}
			if rec.Code == 200 && body(rec) != body(composed) {
				t.Errorf("If-None-Match %q: body %q", tc.inm, body(rec))
			}
		}
		head := serveReq(c, "HEAD", nil)
		if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("ETag") != tag ||
			head.Header().Get("Cache-Control") != composed.Header().Get("Cache-Control") ||
			head.Header().Get("Surrogate-Key") != composed.Header().Get("Surrogate-Key") {
			t.Errorf("HEAD (whole %v): %d %q %v", whole, head.Code, body(head), head.Header())
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d fragment calls, want 1", n)
	}
}

// TestPrivatePages: a page with a per-reader include, any page for a
// signed-in reader and a debug page are private and never stored, with
// no ETag and no surrogate keys, composed or kept whole.
func TestPrivatePages(t *testing.T) {
	mine := static("mine", "<p>mine</p>")
	mine.NeedsReader = true
	for _, tc := range []struct {
		name string
		incs []string
		mod  func(*http.Request, *Request)
	}{
		{"per-reader include", []string{"a", "mine"}, nil},
		{"signed-in reader", []string{"a"}, func(_ *http.Request, r *Request) { r.Reader = "ann" }},
		{"debug", []string{"a"}, func(_ *http.Request, r *Request) { r.Debug = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestComposer(t, testSite([]*Spec{static("a", "<p>a</p>"), mine}, time.Second, tc.incs...), Options{})
			serveReq(c, "GET", nil)
			waitInL1(t, c)
			serveReq(c, "GET", nil) // may keep it whole
			for range 2 {
				rec := serveReq(c, "GET", tc.mod)
				h := rec.Header()
				if rec.Code != 200 || h.Get("Cache-Control") != "private, no-store" || !slices.Contains(h.Values("Vary"), "Cookie") ||
					h.Get("ETag") != "" || h.Get("Surrogate-Key") != "" {
					t.Fatalf("%d %v", rec.Code, h)
				}
			}
		})
	}
}

// TestUncacheablePages: a page whose include fell back, or that failed,
// is never cacheable; a page's own policy applies to a cacheable one.
func TestUncacheablePages(t *testing.T) {
	slow := static("slow", "<p>slow</p>")
	slow.Defaults.Timeout = 5 * time.Millisecond
	slow.Defaults.Fallback = "<p>later</p>"
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	slow.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, ctx.Err()
	}
	c := newTestComposer(t, testSite([]*Spec{static("a", "<p>a</p>"), slow}, time.Second, "a", "slow"), Options{})
	for range 2 {
		if rec := serve(c, ""); !strings.Contains(body(rec), "later") || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("ETag") != "" {
			t.Fatalf("fallback page: %v %s", rec.Header(), body(rec))
		}
		waitInL1(t, c)
	}

	broken := static("p", "")
	broken.Defaults.Primary = true
	broken.Render = func(context.Context, Params) (templ.Component, error) { return nil, fmt.Errorf("down") }
	c = newTestComposer(t, testSite([]*Spec{broken}, time.Second, "p"), Options{})
	if rec := serve(c, ""); rec.Code != 503 || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("ETag") != "" {
		t.Fatalf("503: %d %v", rec.Code, rec.Header())
	}

	site := testSite([]*Spec{static("a", "<p>a</p>")}, time.Second, "a")
	site.Pages[0].Cache = httpcache.Policy{MaxAge: 10 * time.Second, HasMaxAge: true, SMaxAge: time.Hour, HasSMaxAge: true}
	c = newTestComposer(t, site, Options{})
	serve(c, "")
	waitInL1(t, c)
	if got := serve(c, "").Header().Get("Cache-Control"); !strings.HasPrefix(got, "public, max-age=10, s-maxage=3600, stale-while-revalidate=") {
		t.Fatalf("policy: Cache-Control %q", got)
	}
}

// TestSurrogateKeyCap: past Options.SurrogateKeys include keys, a page
// lists its fragment's "?*" key instead.
func TestSurrogateKeyCap(t *testing.T) {
	item := static("item", "<p>i</p>")
	item.Params = []ParamSpec{{Name: "i", Required: true}}
	c := newTestComposer(t, testSite([]*Spec{item, static("a", "")}, time.Second, "item?i=1", "a", "item?i=2", "item?i=3"), Options{SurrogateKeys: 2})
	serve(c, "")
	waitInL1(t, c)
	if got := serve(c, "").Header().Get("Surrogate-Key"); got != "item a item?i=1 a? item?*" {
		t.Fatalf("Surrogate-Key %q", got)
	}
}

type purges struct {
	mu   sync.Mutex
	keys []string
}

func (p *purges) Purge(keys ...string) {
	p.mu.Lock()
	p.keys = append(p.keys, strings.Join(keys, " "))
	p.mu.Unlock()
}

// TestPurgerToldOfChanges: an include dropped or refreshed (DropKey) and a
// purged fragment reach the Purger as the surrogate keys of the pages
// showing them.
func TestPurgerToldOfChanges(t *testing.T) {
	p := &purges{}
	c := newTestComposer(t, testSite([]*Spec{static("a", "")}, time.Second, "a"), Options{Purger: p})
	c.DropKey("a?", time.Now())
	if _, err := c.PurgeFragment(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.keys, "|"); got != "a? a?*|a" {
		t.Fatalf("purged %q", got)
	}
}

// benchNotModified serves the warm 2,000-include page of benchCompose to
// a client that holds it: If-None-Match names its ETag, and the answer is
// a 304 without a body.
func benchNotModified(b *testing.B, stitch bool) {
	site := scoresSite(2000, 0)
	opts := Options{Layouts: testLayouts}
	if !stitch {
		opts.StitchBytes = -1
	}
	c := New(site, opts)
	defer c.Close()
	page := site.Pages[0]
	w := &discard{h: http.Header{}}
	req := httptest.NewRequest("GET", "/", nil)
	c.Serve(w, req, Request{Page: page, Start: time.Now()}) // cold
	waitInL1(b, c)
	c.Serve(w, req, Request{Page: page, Start: time.Now()})
	tag := w.h.Get("ETag")
	if tag == "" {
		b.Fatalf("warm page without an ETag: %v", w.h)
	}
	req.Header.Set("If-None-Match", tag)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.n = 0
		clear(w.h)
		c.Serve(w, req, Request{Page: page, Start: time.Now()})
	}
	b.StopTimer()
	if w.n != 0 || w.h.Get("ETag") != tag {
		b.Fatalf("304 with %d bytes, ETag %q", w.n, w.h.Get("ETag"))
	}
}

// BenchmarkNotModified2000Warm is BenchmarkCompose2000Warm's page
// answered 304.
func BenchmarkNotModified2000Warm(b *testing.B) { benchNotModified(b, true) }

// BenchmarkNotModified2000WarmUnstitched is
// BenchmarkCompose2000WarmUnstitched's page answered 304.
func BenchmarkNotModified2000WarmUnstitched(b *testing.B) { benchNotModified(b, false) }
