package fragments

import (
	"context"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
)

func init() {
	current := cityParam
	current.Required = false
	current.Doc = "The city to mark as current; optional."
	register(composer.Spec{
		Name:   "city-list",
		Render: CityList,
		Doc:    "Links to the weather page of every city, marking the current one.",
		Params: []composer.ParamSpec{current},
		Defaults: composer.Settings{
			Timeout:  40 * time.Millisecond,
			Fresh:    60 * time.Second,
			Stale:    time.Hour,
			Fallback: `<p class="bs-fallback"><a href="/weather/london">Weather for London</a></p>`,
		},
		Example: map[string]string{"city": "paris"},
	})
}

// CityList renders links to every city's weather; param city is marked as
// the current page.
func CityList(ctx context.Context, p composer.Params) (templ.Component, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return cityListView(feed.Cities(), p.Get("city")), nil
}
