package composer

import (
	"context"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
)

func init() {
	testLayouts["head"] = func(v *View) templ.Component {
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			io.WriteString(w, "<html><head><title>t</title></head><body>")
			v.Slot("main").Render(ctx, w)
			_, err := io.WriteString(w, "</body></html>")
			return err
		})
	}
}

func TestAssetsPlacedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := static("a", "<p>a</p>")
		a.Assets = []string{"/static/a.css", "/static/shared.js"}
		b := static("b", "<p>b</p>")
		b.Assets = []string{"/static/a.css", "/static/b.css", "/static/shared.js", `/x"><script>`}
		b.Render = func(context.Context, Params) (templ.Component, error) {
			time.Sleep(10 * time.Millisecond) // settles after the head is out
			return text("<p>b</p>"), nil
		}
		site := testSite([]*Spec{a, b}, time.Second, "a", "b", "a")
		site.Pages[0].Layout = "head"
		site.Pages[0].Includes[0].Primary = true // a settles before the head
		c := newTestComposer(t, site, Options{})
		rec := serve(c, "")
		got := body(rec)
		want := `<html><head><title>t</title><link rel="stylesheet" href="/static/a.css"></head><body>` +
			`<p>a</p><link rel="stylesheet" href="/static/b.css"><p>b</p><p>a</p>` +
			`<script src="/static/shared.js" defer></script></body></html>`
		if got != want {
			t.Fatalf("page\n got %s\nwant %s", got, want)
		}
		if l := rec.Header().Values("Link"); strings.Join(l, ",") != "</static/a.css>; rel=preload; as=style,</static/shared.js>; rel=preload; as=script" {
			t.Errorf("Link headers %q", l)
		}
	})
}

func TestRawFreshnessUnlessConfigured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := static("r", "")
		r.Defaults.Fresh, r.Defaults.Stale = time.Hour, time.Hour
		r.Render = func(context.Context, Params) (templ.Component, error) {
			return &Raw{HTML: []byte("<p>r</p>"), HasFreshness: true, Fresh: time.Second, Stale: 0}, nil
		}
		site := testSite([]*Spec{r}, time.Second, "r")
		site.Fragments["r"].Origin = map[string]string{"fresh": "code", "stale": "code"}
		c := newTestComposer(t, site, Options{})
		serve(c, "")
		time.Sleep(2 * time.Second) // past the response's max-age, not the code default
		if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="miss"`) {
			t.Fatalf("the response's freshness should apply: %s", b)
		}
		// Configured in site.yaml: the configuration wins.
		site.Fragments["r"].Origin["fresh"] = "site.yaml"
		synctest.Wait() // the last result is in L1 before we purge it
		c.Purge("r")
		serve(c, "")
		time.Sleep(2 * time.Second)
		if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="hit"`) {
			t.Fatalf("the configured freshness should apply: %s", b)
		}
	})
}

func TestValidAsset(t *testing.T) {
	for s, ok := range map[string]bool{
		"/static/a.css": true, "https://cdn.example/x.js": true, "//evil/x.js": false,
		"javascript:alert(1)": false, `/a" onload="x`: false, "": false, "/a b.css": false,
	} {
		if ValidAsset(s) != ok {
			t.Errorf("ValidAsset(%q) = %v", s, !ok)
		}
	}
}
