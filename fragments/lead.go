package fragments

import (
	"context"
	"fmt"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
)

func init() {
	register(composer.Spec{
		Name:   "lead",
		Render: Lead,
		Doc:    "The lead story of the site or of one section: large picture, headline, summary and byline.",
		Params: []composer.ParamSpec{
			{Name: "section", Values: feed.SectionSlugs(), Doc: "A section; empty for the site's lead story."},
		},
		Defaults: composer.Settings{
			Timeout:  100 * time.Millisecond,
			Fresh:    30 * time.Second,
			Stale:    10 * time.Minute,
			Fallback: `<p class="bs-fallback">The top story is on its way — please refresh in a moment.</p>`,
		},
		Example: map[string]string{"section": "world"},
	})
}

// Lead renders the first story of param section, or of the whole site.
func Lead(ctx context.Context, p composer.Params) (templ.Component, error) {
	list, err := feed.Default.Stories(ctx, p.Get("section"), 1)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("fragments: lead of section %q: %w", p.Get("section"), composer.ErrNotFound)
	}
	return leadView(list[0]), nil
}
