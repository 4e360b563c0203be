package fragments

import (
	"context"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

func init() {
	register(composer.Spec{
		Name:   "forecast",
		Render: Forecast,
		Doc:    "The three-day forecast for a city: condition, high and low, chance of rain. An unknown city is not found.",
		Params: []composer.ParamSpec{cityParam},
		Defaults: composer.Settings{
			Timeout:  100 * time.Millisecond,
			Fresh:    60 * time.Second,
			Stale:    30 * time.Minute,
			Fallback: `<p class="bs-fallback">The forecast is taking a moment…</p>`,
		},
		Example: map[string]string{"city": "tokyo"},
	})
}

// Forecast renders the three-day forecast of param city. An unknown city is
// composer.ErrNotFound.
func Forecast(ctx context.Context, p composer.Params) (templ.Component, error) {
	w, err := cityWeather(ctx, p.Get("city"))
	if err != nil {
		return nil, err
	}
	return forecastView(w), nil
}
