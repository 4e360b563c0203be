package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/web"
)

// assetHost serves a stylesheet and a script on its own loopback origin
// and counts the requests it gets. The script marks the document with
// name, the stylesheet colours .name elements rgb(1, 2, 3).
func assetHost(t *testing.T, name string) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/" + name + ".css":
			w.Header().Set("Content-Type", "text/css")
			_, _ = io.WriteString(w, "."+name+"{color:rgb(1, 2, 3)}")
		case "/" + name + ".js":
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = io.WriteString(w, `document.documentElement.dataset.`+name+` = "ran";`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestRemoteAssetsOnACDNUnderCSP runs the docs' example of a Tailor-style
// fragment service whose stylesheet and script are on a CDN (another
// loopback origin), declared with remote.asset_origins: in Chromium, under
// the Content-Security-Policy the composer sends, the CDN's stylesheet
// applies and its script runs, while a script and a stylesheet the
// fragment's HTML names on an unlisted origin are refused by the browser
// (never requested, reported as violations).
func TestRemoteAssetsOnACDNUnderCSP(t *testing.T) {
	tb := newTab(t, desktop)
	cdn, cdnHits := assetHost(t, "promo")
	other, otherHits := assetHost(t, "evil")
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Link", `<`+cdn.URL+`/promo.css>; rel="stylesheet", <`+cdn.URL+`/promo.js>; rel="fragment-script"`)
		_, _ = io.WriteString(w, `<aside class="promo">Subscribe</aside><p class="evil">Unlisted</p>`+
			`<link rel="stylesheet" href="`+other.URL+`/evil.css"><script src="`+other.URL+`/evil.js"></script>`)
	}))
	t.Cleanup(svc.Close)

	rc := remote.New(remote.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(rc.Close)
	reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots(),
		Remote: func(name string, c config.RemoteConfig, local *composer.Spec) (*composer.Spec, error) {
			return rc.Spec(remote.Config{Name: name, URL: c.URL, Params: c.Params, Includes: c.Includes, Local: local, AssetOrigins: c.AssetOrigins})
		}}
	site, err := config.Parse("site.yaml", []byte(`
fragments:
  promo:
    remote:
      url: "`+svc.URL+`/promo"
      asset_origins: ["`+cdn.URL+`"]
    timeout: 5s
pages:
  - {name: story, path: /story, layout: plain, budget: 10s, includes: [{fragment: promo, slot: main}]}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	comp := composer.New(site, composer.Options{Layouts: reg.Layouts, ErrorPage: templates.ErrorPage, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(comp.Close)
	page := httptest.NewServer(web.NewWithOptions(comp, web.Options{Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(page.Close)

	tb.rec.reset("", 200)
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Navigate(page.URL+"/story"))
	if err != nil || res.Status != 200 {
		t.Fatalf("GET /story: %v, %v", res, err)
	}
	got := eval[[]string](tb, `[
		getComputedStyle(document.querySelector(".promo")).color,
		document.documentElement.dataset.promo || "",
		getComputedStyle(document.querySelector(".evil")).color,
		document.documentElement.dataset.evil || "",
	]`)
	if got[0] != "rgb(1, 2, 3)" || got[1] != "ran" {
		t.Errorf("the CDN's stylesheet and script: colour %q, script %q; want them applied and run\nCSP: %s",
			got[0], got[1], res.Headers["Content-Security-Policy"])
	}
	if got[2] == "rgb(1, 2, 3)" || got[3] != "" || otherHits.Load() != 0 {
		t.Errorf("the unlisted origin's stylesheet and script: colour %q, script %q, %d requests; want them refused",
			got[2], got[3], otherHits.Load())
	}
	if cdnHits.Load() == 0 {
		t.Error("the CDN got no request")
	}
	// What the browser reports: a violation for each unlisted asset, no
	// other problem.
	refused := map[string]bool{}
	for _, p := range tb.rec.take() {
		switch {
		case strings.Contains(p, "Content Security Policy") && strings.Contains(p, other.URL+"/evil.js"):
			refused["js"] = true
		case strings.Contains(p, "Content Security Policy") && strings.Contains(p, other.URL+"/evil.css"):
			refused["css"] = true
		case strings.Contains(p, "request failed") && strings.Contains(p, "csp"):
			// the refused requests themselves
		default:
			t.Errorf("unexpected problem: %s", p)
		}
	}
	if !refused["js"] || !refused["css"] {
		t.Errorf("violations reported for the unlisted script and stylesheet: %v, want both", refused)
	}
}
