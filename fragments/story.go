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
		Name:   "story",
		Render: Story,
		Doc:    "A story as a card: picture, headline, summary, section and time.",
		Params: []composer.ParamSpec{
			{Name: "id", Required: true, Pattern: `s[0-9]{3}`, MaxLen: 4, Doc: "The story id, s001 to s040."},
		},
		Defaults: composer.Settings{
			Timeout:  80 * time.Millisecond,
			Fresh:    30 * time.Second,
			Stale:    5 * time.Minute,
			Fallback: `<p class="bs-fallback">This story is taking a moment to load.</p>`,
		},
		Example: map[string]string{"id": "s002"},
	})
}

// Story renders the story card of param id. An unknown id is
// composer.ErrNotFound.
func Story(ctx context.Context, p composer.Params) (templ.Component, error) {
	id := p.Get("id")
	s, ok, err := feed.Default.Story(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("fragments: story %s: %w", id, composer.ErrNotFound)
	}
	return storyCard(s), nil
}

// storyURL is the address of a story's page.
func storyURL(id string) templ.SafeURL { return templ.URL("/story/" + id) }

// sectionURL is the address of a section's page.
func sectionURL(slug string) templ.SafeURL { return templ.URL("/section/" + slug) }

// published formats a story's time for its <time> element and for reading.
func published(t time.Time) (datetime, text string) {
	t = t.UTC()
	return t.Format(time.RFC3339), t.Format("15:04 GMT, 2 Jan")
}
