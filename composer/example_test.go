package composer_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

// A site's fragments package keeps one Registry; each fragment's file
// registers its Spec from init, and the site's main hands All to
// server.Site.
func ExampleRegistry() {
	var registry composer.Registry
	for _, name := range []string{"weather", "headline"} {
		registry.Register(composer.Spec{
			Name:     name,
			Defaults: composer.Settings{Timeout: 100 * time.Millisecond},
			Render: func(context.Context, composer.Params) (templ.Component, error) {
				return templ.Raw("<p>" + name + "</p>"), nil
			},
		})
	}
	for _, s := range registry.All() {
		fmt.Println(s.Name, s.Version)
	}
	// Output:
	// headline 1
	// weather 1
}

// A layout's tests check that the slots the site lists for it (what
// site.yaml's includes are checked against) are the ones it places.
func ExampleCheckLayout() {
	page := func(v *composer.View) templ.Component {
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			if err := v.Slot("nav").Render(ctx, w); err != nil {
				return err
			}
			return v.Slot("main").Render(ctx, w)
		})
	}
	fmt.Println(composer.CheckLayout(page, []string{"nav", "main"}))
	fmt.Println(composer.CheckLayout(page, []string{"main", "aside"}))
	// Output:
	// <nil>
	// composer: layout does not place listed slot "aside"
	// composer: layout places slot "nav", which is not listed
}
