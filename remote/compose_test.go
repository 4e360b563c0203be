package remote_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/web"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newSite parses yaml against the demo fragments and layouts, with remote
// fragments fetched through c.
func newSite(tb testing.TB, c *remote.Client, yaml string) *composer.Site {
	tb.Helper()
	reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots(),
		Remote: func(name string, rc config.RemoteConfig, local *composer.Spec) (*composer.Spec, error) {
			return c.Spec(remote.Config{Name: name, URL: rc.URL, Params: rc.Params, Includes: rc.Includes, Local: local, Batch: rc.Batch, Sanitize: rc.Sanitize, AssetOrigins: rc.AssetOrigins})
		}}
	site, err := config.Parse("site.yaml", []byte(yaml), reg)
	if err != nil {
		tb.Fatal(err)
	}
	return site
}

// webServer serves site through web's whole handler, as cmd/composer
// does, until the test ends.
func webServer(tb testing.TB, site *composer.Site) *httptest.Server {
	tb.Helper()
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage, Logger: quiet})
	srv := web.NewWithOptions(comp, web.Options{Logger: slog.New(slog.DiscardHandler)})
	srv.SetReady(true)
	ts := httptest.NewServer(srv)
	tb.Cleanup(func() {
		ts.Close()
		comp.Close()
	})
	return ts
}

// pageHandler routes the site's pages to comp, as web does.
func pageHandler(comp *composer.Composer) http.Handler {
	mux := http.NewServeMux()
	for _, p := range comp.Site().Pages {
		mux.HandleFunc("GET "+p.Path, func(w http.ResponseWriter, r *http.Request) {
			route := map[string]string{}
			for _, k := range []string{"city", "id", "section"} {
				if v := r.PathValue(k); v != "" {
					route[k] = v
				}
			}
			q := r.URL.Query()
			comp.Serve(w, r, composer.Request{Page: p, Route: route, Query: q, Start: time.Now(), Debug: q.Get("debug") == "1"})
		})
	}
	return mux
}

// esiService is a fragment service written for Tailor or ESI, knowing
// nothing of Broadsheet: plain HTML, Cache-Control and a Link header. Its
// promo may include Broadsheet's footer fragment.
func esiService() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/promo":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "public, max-age=60, stale-while-revalidate=600")
			w.Header().Set("Link", `<http://`+r.Host+`/promo.css>; rel="stylesheet", <http://`+r.Host+`/promo.js>; rel="fragment-script"`)
			_, _ = io.WriteString(w, `<aside class="promo">Subscribe for `+r.URL.Query().Get("price")+`</aside>`+
				`<bs-include fragment="footer"></bs-include>`)
		default:
			http.NotFound(w, r)
		}
	})
}

// TestInteropESI serves a page whose includes come from an unmodified
// ESI/Tailor-style service: its HTML is placed, its assets once each (CSS
// in the head and as preload Link headers, since the include is primary;
// JS at the end of the body), its freshness honoured, and its nested
// include resolved.
func TestInteropESI(t *testing.T) {
	feed.Configure(feed.Options{})
	svc := httptest.NewServer(esiService())
	defer svc.Close()
	c := remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	site := newSite(t, c, `
fragments:
  promo:
    remote:
      url: "`+svc.URL+`/promo?price={price}"
      params: [{name: price, required: true, pattern: "£[0-9]+"}]
      includes: [footer]
    timeout: 5s   # generous: this test is of interop, not of time; a loaded machine under -race is slow
pages:
  - name: story
    path: /story
    layout: plain
    budget: 10s
    includes:
      - {fragment: promo, slot: main, primary: true, params: {price: "£1"}}
      - {fragment: promo, slot: main, params: {price: "£2"}}
`)
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage, Logger: quiet})
	defer comp.Close()
	srv := httptest.NewServer(pageHandler(comp))
	defer srv.Close()

	for round := range 2 { // a miss, then a hit from the cache
		resp, err := http.Get(srv.URL + "/story?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		html := string(body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
		if err != nil {
			t.Fatal(err)
		}
		want := "miss"
		if round == 1 {
			want = "hit"
		}
		promos := doc.Find(`bs-frag[data-fragment="promo"]`)
		if promos.Length() != 2 {
			t.Fatalf("round %d: %d promo includes", round, promos.Length())
		}
		promos.Each(func(i int, s *goquery.Selection) {
			if o, _ := s.Attr("data-outcome"); o != want {
				t.Errorf("round %d: promo %d outcome %q, want %q", round, i, o, want)
			}
			if s.Find(`bs-frag[data-fragment="footer"]`).Length() != 1 {
				t.Errorf("round %d: promo %d: nested footer not resolved", round, i)
			}
		})
		if got := doc.Find("aside.promo").Text(); got != "Subscribe for £1Subscribe for £2" {
			t.Errorf("promo text %q", got)
		}
		css := svc.URL + "/promo.css"
		if n := doc.Find(`head link[rel="stylesheet"][href="` + css + `"]`).Length(); n != 1 || strings.Count(html, css) != 1 {
			t.Errorf("round %d: stylesheet in head %d times, in page %d times", round, n, strings.Count(html, css))
		}
		if n := doc.Find(`body script[src="` + svc.URL + `/promo.js"]`).Length(); n != 1 {
			t.Errorf("round %d: script placed %d times", round, n)
		}
		if l := strings.Join(resp.Header.Values("Link"), ","); !strings.Contains(l, "<"+css+">; rel=preload; as=style") {
			t.Errorf("round %d: Link header %q", round, l)
		}
	}
	f := comp.Site().Fragments["promo"]
	if f.Settings.Fresh != 0 || f.Origin["fresh"] != config.OriginCode {
		t.Errorf("promo settings %+v", f.Settings)
	}
}

// TestRemoteReplacesLocal moves score out of the composer by
// configuration alone: same HTML, same params, fetched from a Handler.
func TestRemoteReplacesLocal(t *testing.T) {
	now := time.Date(2026, 5, 1, 15, 30, 0, 0, time.UTC)
	feed.Configure(feed.Options{Now: func() time.Time { return now }})
	defer feed.Configure(feed.Options{})
	svc := httptest.NewServer(remote.Handler(fragments.All(), remote.ServerOptions{Logger: quiet}))
	defer svc.Close()
	c := remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	site := newSite(t, c, `
fragments:
  score:
    remote: {url: "`+svc.URL+`/fragments/score?match={match}"}
`)
	local, remote := findSpec(fragments.All(), "score"), site.Fragments["score"].Spec
	if remote == local || remote.Version != local.Version || len(remote.Params) != 1 {
		t.Fatalf("score was not replaced as expected: %+v", remote)
	}
	p, _ := composer.NewParams(local, map[string]string{"match": "m0042"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	lc, err := local.Render(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	_ = lc.Render(ctx, &want)
	rc, err := remote.Render(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	raw := rc.(*composer.Raw)
	if string(raw.HTML) != want.String() {
		t.Errorf("remote HTML %q\nwant %q", raw.HTML, want.String())
	}
	if !raw.HasFreshness || raw.Fresh != local.Defaults.Fresh || raw.Stale != local.Defaults.Stale {
		t.Errorf("freshness %v %v %v, want the Spec's", raw.HasFreshness, raw.Fresh, raw.Stale)
	}
}

func findSpec(specs []*composer.Spec, name string) *composer.Spec {
	for _, s := range specs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// TestBatchConfigRefused checks that a URL the batch protocol cannot
// carry is refused at the batch field's line.
func TestBatchConfigRefused(t *testing.T) {
	c := remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots(),
		Remote: func(name string, rc config.RemoteConfig, local *composer.Spec) (*composer.Spec, error) {
			return c.Spec(remote.Config{Name: name, URL: rc.URL, Params: rc.Params, Includes: rc.Includes, Local: local, Batch: rc.Batch, Sanitize: rc.Sanitize, AssetOrigins: rc.AssetOrigins})
		}}
	yaml := "fragments:\n  score:\n    remote:\n      url: \"http://127.0.0.1:9/score/{match}\"\n      batch: true\n"
	_, err := config.Parse("site.yaml", []byte(yaml), reg)
	var list config.List
	if !errors.As(err, &list) || len(list) != 1 || list[0].Line != 5 || list[0].Field != "fragments.score.remote.batch" ||
		!strings.Contains(list[0].Msg, "placeholder") {
		t.Fatalf("err = %v", err)
	}
	yaml = "fragments:\n  score:\n    remote:\n      url: \"http://127.0.0.1:9/fragments/score?match={match}\"\n      batch: true\n"
	if _, err := config.Parse("site.yaml", []byte(yaml), reg); err != nil {
		t.Fatal(err)
	}
}
