package server_test

import (
	"context"
	_ "embed"
	"io"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/server"
)

// A site's main: its fragments (registered from their files' init
// functions, see composer.Registry), its layouts and the slots each
// places, and its site.yaml, usually embedded with //go:embed. The binary
// takes every flag of Broadsheet's composer (-addr, -config, -redis,
// -admin-token…); `broadsheet new site` writes such a module.
func ExampleMain() {
	var fragments composer.Registry // in a site: package fragments, filled from init
	fragments.Register(composer.Spec{
		Name:     "hello",
		Doc:      "Says hello.",
		Defaults: composer.Settings{Timeout: 100e6, Fresh: 30e9, Stale: 300e9},
		Render: func(context.Context, composer.Params) (templ.Component, error) {
			return templ.Raw(`<p>Hello</p>`), nil // in a site: a templ component
		},
	})
	page := func(v *composer.View) templ.Component { // in a site: a templ layout
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			io.WriteString(w, "<!doctype html><html lang=en><head><title>"+templ.EscapeString(v.Title)+"</title></head><body><main>")
			if err := v.Slot("main").Render(ctx, w); err != nil {
				return err
			}
			_, err := io.WriteString(w, "</main></body></html>")
			return err
		})
	}
	server.Main(server.Site{
		Name:      "news",
		Fragments: fragments.All(),
		Layouts:   map[string]composer.Layout{"page": page},
		Slots:     map[string][]string{"page": {"main"}},
		Config: []byte(`
pages:
  - name: home
    path: /
    title: News
    layout: page
    includes:
      - {fragment: hello, slot: main}
`),
	})
}
