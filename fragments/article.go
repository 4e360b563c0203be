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
		Name:   "article",
		Render: Article,
		Doc:    "A full story: section, headline (the page's h1), byline, picture and body.",
		Params: []composer.ParamSpec{
			{Name: "id", Required: true, Pattern: `s[0-9]{3}`, MaxLen: 4, Doc: "The story id, s001 to s040."},
		},
		Defaults: composer.Settings{
			Timeout:  150 * time.Millisecond,
			Fresh:    60 * time.Second,
			Stale:    30 * time.Minute,
			Fallback: `<p class="bs-fallback">This story could not be loaded just now. Please try again shortly.</p>`,
		},
		Example: map[string]string{"id": "s014"},
	})
}

// Article renders the full story of param id. An unknown id is
// composer.ErrNotFound.
func Article(ctx context.Context, p composer.Params) (templ.Component, error) {
	id := p.Get("id")
	s, ok, err := feed.Default.Story(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("fragments: article %s: %w", id, composer.ErrNotFound)
	}
	return articleView(s), nil
}
