package templates

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/web/static"
)

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestLayoutsAreDocuments renders every layout for a page with no includes:
// each must still be a complete document with a title, the stylesheet, a
// skip link and a main landmark, and must place no slot wrappers.
func TestLayoutsAreDocuments(t *testing.T) {
	for name, layout := range Layouts() {
		t.Run(name, func(t *testing.T) {
			html := render(t, layout(&composer.View{Title: "Title <&>"}))
			for _, want := range []string{
				"<!doctype html>", `<html lang="en">`, "<title>Title &lt;&amp;&gt;</title>",
				`href="` + static.Path("site.css") + `"`, `href="#main"`, `<main id="main"`, "</html>",
			} {
				if !strings.Contains(strings.ToLower(html), strings.ToLower(want)) {
					t.Errorf("missing %s", want)
				}
			}
			if strings.Contains(html, "<aside") || strings.Contains(html, "<footer") {
				t.Errorf("a wrapper was rendered for an empty slot:\n%s", html)
			}
		})
	}
}

// TestLayoutSlots checks that LayoutSlots, which the configuration checks
// every include's slot against, lists exactly the slots each layout places.
func TestLayoutSlots(t *testing.T) {
	if len(Layouts()) != len(LayoutSlots()) {
		t.Error("Layouts and LayoutSlots disagree")
	}
	for name, layout := range Layouts() {
		slots := LayoutSlots()[name]
		if slots == nil {
			t.Errorf("layout %s has no slot list", name)
		}
		if err := composer.CheckLayout(layout, slots); err != nil {
			t.Errorf("layout %s: %v", name, err)
		}
	}
}

func TestErrorPageEscapes(t *testing.T) {
	html := render(t, ErrorPage(404, "Page <not> found", `No "city" here & there`))
	for _, want := range []string{"Error 404", "Page &lt;not&gt; found", "No &#34;city&#34; here &amp; there"} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s in\n%s", want, html)
		}
	}
}

func TestExplorer(t *testing.T) {
	html := render(t, FragmentsIndex([]FragmentRow{{
		Name: "score", Doc: "One score.", Timeout: "60ms", Fresh: "5s", Stale: "2m0s",
		Fallback: `<li class="bs-fallback">–</li>`,
		Origin:   map[string]string{"timeout": "site.yaml"},
		Params:   []ParamRow{{Name: "match", Pattern: "m[0-9]{4,5}", Required: true}},
	}, {Name: "scoreboard", Includes: []string{"score"}}}))
	for _, want := range []string{`id="f-score"`, `href="#f-score"`, "&lt;li class=&#34;bs-fallback&#34;&gt;", "site.yaml", "required"} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s", want)
		}
	}
	html = render(t, PagesIndex([]PageLink{{Name: "city", Path: "/weather/{city}", Title: "Weather", Example: "/weather/london"}}))
	if !strings.Contains(html, `<a href="/weather/london">`) {
		t.Errorf("no example link in\n%s", html)
	}
}
