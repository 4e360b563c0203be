package composer

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
)

// flatSite is a page of n top-level includes of one fragment, each with
// its own literal param, plus one bound to the query value "v" (and, when
// route is set, one bound to the route value "city").
func flatSite(n int, calls *atomic.Int64, version *atomic.Int64) *Site {
	item := &Spec{Name: "item", Params: []ParamSpec{{Name: "i", Required: true}},
		Assets:   []string{"/static/item.css", "/static/item.js"},
		Defaults: Settings{Timeout: time.Second, Fresh: time.Hour, Stale: time.Hour},
		Render: func(_ context.Context, p Params) (templ.Component, error) {
			calls.Add(1)
			return text(fmt.Sprintf("<p>%s.%d</p>", p.Get("i"), version.Load())), nil
		}}
	var incs []string
	for i := range n {
		incs = append(incs, fmt.Sprintf("item?i=%d", i))
	}
	s := testSite([]*Spec{item}, time.Second, incs...)
	s.Pages[0].Layout = "head"
	s.Pages[0].Includes = append(s.Pages[0].Includes, &PageInclude{Fragment: "item", Slot: "main",
		Params: []Binding{{Name: "i", From: "query", Value: "v"}}})
	return s
}

func init() {
	testLayouts["nonce"] = func(v *View) templ.Component {
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			io.WriteString(w, `<html><head><script nonce="`+v.Nonce+`">1</script></head><body>`)
			v.Slot("main").Render(ctx, w)
			_, err := io.WriteString(w, "</body></html>")
			return err
		})
	}
}

// servedWhole counts the includes c served stitched.
func servedWhole(c *Composer) int64 { return c.Stats().Stitched.Load() }

// TestStitchedFlatPage: a warm page of top-level includes is kept whole
// once it has been written from cache, and then served byte for byte as
// a composer without stitching serves it (assets and scripts placed as
// the writer places them), its includes counted. Query values its
// includes bind make other pages; values nobody binds do not; debug
// pages never use it.
func TestStitchedFlatPage(t *testing.T) {
	var calls, version atomic.Int64
	obs := &countObserver{n: map[string]int{}}
	c := newTestComposer(t, flatSite(50, &calls, &version), Options{Observer: obs})
	plain := newTestComposer(t, flatSite(50, &calls, &version), Options{StitchBytes: -1})
	same := func(query string) string {
		t.Helper()
		waitInL1(t, c)
		waitInL1(t, plain)
		a, b := serve(c, query), serve(plain, query)
		if a.Code != 200 || body(a) != body(b) {
			t.Fatalf("stitched %d\n%s\nplain %d\n%s", a.Code, body(a), b.Code, body(b))
		}
		if la, lb := strings.Join(a.Header().Values("Link"), ","), strings.Join(b.Header().Values("Link"), ","); la != lb {
			t.Fatalf("Link headers %q, want %q", la, lb)
		}
		return body(a)
	}
	// Cold: not compared, since where a stylesheet goes depends on which
	// includes settled before each writer reached </head>.
	serve(c, "v=a")
	serve(plain, "v=a")
	same("v=a") // warm: written from cache, kept whole
	before := servedWhole(c)
	b := same("v=a&other=1") // "other" is bound by no include: the same page
	if got := servedWhole(c) - before; got != 51 {
		t.Fatalf("includes served whole: %d, want 51", got)
	}
	if !strings.Contains(b, `<link rel="stylesheet" href="/static/item.css"></head>`) || !strings.Contains(b, `<script src="/static/item.js" defer></script></body>`) ||
		!strings.Contains(b, "<p>49.0</p><p>a.0</p>") {
		t.Fatalf("page: %s", b)
	}
	if got := obs.get("item/hit"); got != 2*51 {
		t.Errorf("item hits observed: %d, want %d", got, 2*51)
	}

	// Another bound value is another page.
	before = servedWhole(c)
	if b := same("v=b"); !strings.Contains(b, "<p>b.0</p>") || servedWhole(c) != before {
		t.Fatalf("v=b served whole from v=a's page: %s", b)
	}

	// A debug page is written include by include.
	before = servedWhole(c)
	if rec := serve(c, "v=a&debug=1"); !strings.Contains(body(rec), `data-outcome="hit"`) || servedWhole(c) != before {
		t.Fatalf("debug page served whole: %s", body(rec))
	}
}

// TestStitchedPageFollowsItsParts: a page kept whole is served only while
// every part is the one L1 holds: a purge, a newer entry of one include,
// or a new Site, and the next page is written afresh and shows it.
func TestStitchedPageFollowsItsParts(t *testing.T) {
	var calls, version atomic.Int64
	site := flatSite(20, &calls, &version)
	c := newTestComposer(t, site, Options{})
	warm := func() {
		t.Helper()
		for range 2 {
			waitInL1(t, c)
			serve(c, "v=a")
		}
		before := servedWhole(c)
		serve(c, "v=a")
		if servedWhole(c) == before {
			t.Fatal("the warm page was not served whole")
		}
	}
	warm()

	// A newer entry for one include (an event's refresh does this).
	version.Store(1)
	p, err := NewParams(site.Fragments["item"].Spec, map[string]string{"i": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(t.Context(), Target{Fragment: "item", Params: p, Key: Key("item", p)}); err != nil {
		t.Fatal(err)
	}
	if b := body(serve(c, "v=a")); !strings.Contains(b, "<p>7.1</p>") || !strings.Contains(b, "<p>6.0</p>") {
		t.Fatalf("after a refresh of item 7: %s", b)
	}

	// A purge: every include is called again.
	warm()
	version.Store(2)
	c.Purge("item")
	if b := body(serve(c, "v=a")); !strings.Contains(b, "<p>3.2</p>") {
		t.Fatalf("after a purge: %s", b)
	}

	// A new Site (a reload): not served from the old one's page.
	warm()
	c.SetSite(flatSite(20, &calls, &version))
	before := servedWhole(c)
	serve(c, "v=a")
	if servedWhole(c) != before {
		t.Fatal("served whole under a new Site")
	}
}

// TestStitchedPageNotKept: pages that are not the same for every request
// are never kept whole — one whose layout placed the request's nonce, one
// with a per-reader include — and the memory of kept pages is bounded by
// StitchBytes and given back by a purge.
func TestStitchedPageNotKept(t *testing.T) {
	var calls, version atomic.Int64
	t.Run("nonce", func(t *testing.T) {
		site := flatSite(5, &calls, &version)
		site.Pages[0].Layout = "nonce"
		c := newTestComposer(t, site, Options{})
		for i := range 3 {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/?v=a", nil)
			nonce := fmt.Sprintf("n0nce%d", i)
			waitInL1(t, c)
			c.Serve(rec, req, Request{Page: c.Site().Pages[0], Query: req.URL.Query(), Start: time.Now(), Nonce: nonce})
			if !strings.Contains(body(rec), nonce) {
				t.Fatalf("page %d lacks its nonce %s: %s", i, nonce, body(rec))
			}
		}
		if n := c.Stats().Stitched.Load(); n != 0 {
			t.Fatalf("%d includes served whole", n)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		site := flatSite(50, &calls, &version)
		small := newTestComposer(t, site, Options{StitchBytes: 300})
		for range 3 {
			waitInL1(t, small)
			serve(small, "v=a")
		}
		if n, b := small.Stats().Stitched.Load(), small.StitchedBytes(); n != 0 || b != 0 {
			t.Fatalf("300 bytes allowed: %d includes served whole, %d bytes held", n, b)
		}
		c := newTestComposer(t, site, Options{})
		for range 2 {
			waitInL1(t, c)
			serve(c, "v=a")
		}
		if c.StitchedBytes() < int64(50*len("<p>10.0</p>")) {
			t.Fatalf("%d bytes held", c.StitchedBytes())
		}
		c.Purge("item")
		if b := c.StitchedBytes(); b != 0 {
			t.Fatalf("%d bytes held after a purge", b)
		}
	})
}

// TestStitchedPageWithoutHead: a layout that does not close its head (HTML
// allows it) has nowhere to gather stylesheets, so the writer places each
// where its include stands. Such a page is kept whole when it has no
// assets, served byte for byte as without stitching; with assets it is
// written include by include every time.
func TestStitchedPageWithoutHead(t *testing.T) {
	for _, c := range []struct {
		name   string
		assets []string
		whole  int64
	}{
		{"no assets", nil, 11},
		{"assets", []string{"/static/item.css"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls, version atomic.Int64
			site := func() *Site {
				s := flatSite(10, &calls, &version)
				s.Pages[0].Layout = "test" // no </head>
				s.Fragments["item"].Spec.Assets = c.assets
				return s
			}
			comp := newTestComposer(t, site(), Options{})
			plain := newTestComposer(t, site(), Options{StitchBytes: -1})
			for range 2 {
				waitInL1(t, comp)
				waitInL1(t, plain)
				serve(comp, "v=a")
				serve(plain, "v=a")
			}
			before := servedWhole(comp)
			a, b := serve(comp, "v=a"), serve(plain, "v=a")
			if body(a) != body(b) {
				t.Fatalf("stitched\n%s\nplain\n%s", body(a), body(b))
			}
			if got := servedWhole(comp) - before; got != c.whole {
				t.Fatalf("includes served whole: %d, want %d", got, c.whole)
			}
		})
	}
}
