package fragments

import (
	"context"
	"fmt"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
)

// cityParam is the declaration shared by the fragments about one city.
var cityParam = composer.ParamSpec{
	Name:     "city",
	Required: true,
	Pattern:  `[a-z-]{1,40}`,
	MaxLen:   40,
	Doc:      "A city slug such as london, new-york or tokyo.",
}

func init() {
	register(composer.Spec{
		Name:   "weather",
		Render: Weather,
		Doc:    "The current weather in a city: condition, temperature, wind and humidity. An unknown city is not found.",
		Params: []composer.ParamSpec{cityParam},
		Defaults: composer.Settings{
			Timeout:  80 * time.Millisecond,
			Fresh:    60 * time.Second,
			Stale:    10 * time.Minute,
			Fallback: `<p class="bs-fallback">Weather is taking a moment…</p>`,
		},
		Example: map[string]string{"city": "london"},
	})
}

// Weather renders the current weather of param city. An unknown city is
// composer.ErrNotFound.
func Weather(ctx context.Context, p composer.Params) (templ.Component, error) {
	w, err := cityWeather(ctx, p.Get("city"))
	if err != nil {
		return nil, err
	}
	return weatherView(w), nil
}

// cityWeather asks the feed for a city's weather, mapping an unknown city to
// composer.ErrNotFound.
func cityWeather(ctx context.Context, city string) (feed.Weather, error) {
	w, ok, err := feed.Default.Weather(ctx, city)
	if err != nil {
		return feed.Weather{}, err
	}
	if !ok {
		return feed.Weather{}, fmt.Errorf("fragments: city %q: %w", city, composer.ErrNotFound)
	}
	return w, nil
}

// cityURL is the address of a city's weather page.
func cityURL(slug string) templ.SafeURL { return templ.URL("/weather/" + slug) }
