package fragments

import (
	"context"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
)

func init() {
	register(composer.Spec{
		Name:   "most-read",
		Render: MostRead,
		Doc:    "The most read stories of the last hour, ranked.",
		Params: []composer.ParamSpec{
			{Name: "count", Default: "10", Pattern: `[1-9]|1[0-9]|20`, MaxLen: 2, Doc: "How many stories, 1 to 20."},
		},
		Defaults: composer.Settings{
			Timeout:  100 * time.Millisecond,
			Fresh:    60 * time.Second,
			Stale:    15 * time.Minute,
			Fallback: `<p class="bs-fallback">Most read is taking a moment…</p>`,
		},
		Example: map[string]string{"count": "5"},
	})
}

// MostRead renders the count most read stories.
func MostRead(ctx context.Context, p composer.Params) (templ.Component, error) {
	n, err := strconv.Atoi(p.Get("count"))
	if err != nil {
		return nil, err
	}
	list, err := feed.Default.MostRead(ctx, n)
	if err != nil {
		return nil, err
	}
	return mostReadView(list), nil
}
