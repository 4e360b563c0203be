package composer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

// exampleLayout places the "main" slot in a minimal HTML document.
func exampleLayout(v *composer.View) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "<html><body>")
		if err := v.Slot("main").Render(ctx, w); err != nil {
			return err
		}
		_, err := io.WriteString(w, "</body></html>")
		return err
	})
}

// exampleSite is a site of two fragments: a "scores" list that nests one
// "score" include per match, and the score of one match, whose match param
// must match a pattern.
func exampleSite() *composer.Site {
	score := &composer.Spec{Name: "score", Version: "1",
		Params:   []composer.ParamSpec{{Name: "match", Required: true, Pattern: `m[0-9]+`}},
		Defaults: composer.Settings{Timeout: time.Second, Fresh: time.Minute, Stale: time.Hour},
		Render: func(_ context.Context, p composer.Params) (templ.Component, error) {
			return templ.Raw("<li>" + p.Get("match") + ": 1-0</li>"), nil
		}}
	scores := &composer.Spec{Name: "scores", Version: "1", Includes: []string{"score"},
		Defaults: composer.Settings{Timeout: time.Second, Fresh: time.Minute, Stale: time.Hour},
		Render: func(context.Context, composer.Params) (templ.Component, error) {
			return templ.Raw("<ul>" + composer.IncludeTag("score", "match", "m1") + composer.IncludeTag("score", "match", "m2") + "</ul>"), nil
		}}
	site := &composer.Site{Limits: composer.DefaultLimits, Fragments: map[string]*composer.Fragment{}}
	for _, s := range []*composer.Spec{score, scores} {
		site.Fragments[s.Name] = &composer.Fragment{Spec: s, Settings: s.Defaults}
	}
	site.Pages = []*composer.Page{{Name: "front", Path: "/", Layout: "page",
		Includes: []*composer.PageInclude{{Fragment: "scores", Slot: "main"}}}}
	return site
}

// A Composer serves a Site's pages: New takes the site and the layouts
// (and, in production, the shared Store); Serve composes one page, looking
// up or rendering every include, nested ones too, within the page's budget.
func Example() {
	c := composer.New(exampleSite(), composer.Options{Layouts: map[string]composer.Layout{"page": exampleLayout}})
	defer c.Close()

	rec := httptest.NewRecorder()
	c.Serve(rec, httptest.NewRequest("GET", "/", nil), composer.Request{Page: c.Site().Pages[0], Start: time.Now()})
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Body.String())
	// Output:
	// 200 text/html; charset=utf-8
	// <html><body><ul><li>m1: 1-0</li><li>m2: 1-0</li></ul></body></html>
}

// A fragment nests another by writing an include tag in its HTML (a templ
// component writes the same with composer.Include). The nested fragment
// must be listed in the parent's Spec.Includes.
func ExampleIncludeTag() {
	fmt.Println(composer.IncludeTag("score", "match", "m1"))
	// Output:
	// <bs-include fragment="score" match="m1"></bs-include>
}

// In a templ component, @composer.Include("score", "match", m.ID) writes
// the same tag.
func ExampleInclude() {
	var b strings.Builder
	if err := composer.Include("score", "match", "m1").Render(context.Background(), &b); err != nil {
		fmt.Println(err)
	}
	fmt.Println(b.String())
	// Output:
	// <bs-include fragment="score" match="m1"></bs-include>
}

// NewParams checks raw values against a Spec's declared params; Key is the
// cache identity of an include, the same on every instance.
func ExampleKey() {
	score := exampleSite().Fragments["score"].Spec
	p, err := composer.NewParams(score, map[string]string{"match": "m1"})
	fmt.Println(composer.Key("score", p), err)
	_, err = composer.NewParams(score, map[string]string{"match": "<script>"})
	fmt.Println(err)
	// Output:
	// score?match=m1 <nil>
	// composer: fragment "score": param "match" does not match its pattern
}

// An include whose fragment fails (or misses its timeout) is replaced by
// its Fallback; the page is still complete, with a 200.
func ExampleComposer_Serve() {
	site := exampleSite()
	score := site.Fragments["score"]
	score.Settings.Fallback = "<li>score unavailable</li>"
	score.Spec.Render = func(_ context.Context, p composer.Params) (templ.Component, error) {
		if p.Get("match") == "m2" {
			return nil, errors.New("feed: m2 not found")
		}
		return templ.Raw("<li>" + p.Get("match") + ": 1-0</li>"), nil
	}
	c := composer.New(site, composer.Options{Layouts: map[string]composer.Layout{"page": exampleLayout}})
	defer c.Close()

	rec := httptest.NewRecorder()
	c.Serve(rec, httptest.NewRequest("GET", "/", nil), composer.Request{Page: site.Pages[0], Start: time.Now()})
	fmt.Println(rec.Code)
	fmt.Println(rec.Body.String())
	// Output:
	// 200
	// <html><body><ul><li>m1: 1-0</li><li>score unavailable</li></ul></body></html>
}
