package fragments

import (
	"context"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

// navLink is one entry of the site navigation.
type navLink struct {
	key, label string
	href       templ.SafeURL
}

var navLinks = []navLink{
	{"home", "Home", "/"},
	{"news", "News", "/news"},
	{"world", "World", "/section/world"},
	{"business", "Business", "/section/business"},
	{"tech", "Technology", "/section/tech"},
	{"science", "Science", "/section/science"},
	{"sport", "Football scores", "/sport/football/scores"},
	{"weather", "Weather", "/weather/london"},
}

func init() {
	keys := make([]string, len(navLinks))
	for i, l := range navLinks {
		keys[i] = l.key
	}
	register(composer.Spec{
		Name:   "nav",
		Render: Nav,
		Doc:    "The site navigation, marking the current section.",
		Params: []composer.ParamSpec{
			{Name: "current", Values: keys, Doc: "The entry to mark as the current page; optional."},
		},
		Defaults: composer.Settings{
			Timeout: 50 * time.Millisecond,
			Fresh:   60 * time.Second,
			Stale:   time.Hour,
			Fallback: `<nav class="bs-nav" aria-label="Main"><ul class="bs-nav__list">` +
				`<li><a href="/">Home</a></li><li><a href="/news">News</a></li>` +
				`<li><a href="/sport/football/scores">Football scores</a></li>` +
				`<li><a href="/weather/london">Weather</a></li></ul></nav>`,
		},
		Example: map[string]string{"current": "sport"},
	})
}

// Nav renders the site navigation with param current marked.
func Nav(ctx context.Context, p composer.Params) (templ.Component, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return navView(navLinks, p.Get("current")), nil
}
