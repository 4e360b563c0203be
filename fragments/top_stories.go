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
		Name:   "top-stories",
		Render: TopStories,
		Doc:    "A numbered list of headlines, for the whole site or one section.",
		Params: []composer.ParamSpec{
			{Name: "section", Values: feed.SectionSlugs(), Doc: "A section; empty for every section."},
			{Name: "count", Default: "8", Pattern: `[1-9]|1[0-9]|20`, MaxLen: 2, Doc: "How many headlines, 1 to 20."},
		},
		Defaults: composer.Settings{
			Timeout:  100 * time.Millisecond,
			Fresh:    30 * time.Second,
			Stale:    10 * time.Minute,
			Fallback: `<p class="bs-fallback">Headlines are taking a moment…</p>`,
		},
		Example: map[string]string{"section": "business", "count": "5"},
	})
}

// TopStories renders the first count headlines of param section.
func TopStories(ctx context.Context, p composer.Params) (templ.Component, error) {
	n, err := strconv.Atoi(p.Get("count"))
	if err != nil {
		return nil, err
	}
	list, err := feed.Default.Stories(ctx, p.Get("section"), n)
	if err != nil {
		return nil, err
	}
	return topStoriesView(list), nil
}
