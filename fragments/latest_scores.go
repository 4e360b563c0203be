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
		Name:   "latest-scores",
		Render: LatestScores,
		Doc:    "A small box of matches in play in one division, each a score include, with a link to every score.",
		Params: []composer.ParamSpec{
			{Name: "league", Default: "premier", Values: feed.LeagueSlugs(), Doc: "The division to follow."},
			{Name: "count", Default: "6", Values: []string{"5", "6", "7", "8"}, Doc: "How many matches, 5 to 8."},
		},
		Includes: []string{"score"},
		Defaults: composer.Settings{
			Timeout:  120 * time.Millisecond,
			Fresh:    15 * time.Second,
			Stale:    5 * time.Minute,
			Fallback: `<p class="bs-fallback"><a href="/sport/football/scores">Latest football scores</a></p>`,
		},
		Example: map[string]string{"league": "premier", "count": "6"},
	})
}

// LatestScores renders a score include for each of the first count matches
// in play in param league.
func LatestScores(ctx context.Context, p composer.Params) (templ.Component, error) {
	n, err := strconv.Atoi(p.Get("count"))
	if err != nil {
		return nil, err
	}
	slug := p.Get("league")
	live, err := feed.Default.LiveMatches(ctx, slug, n)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(live))
	for i, m := range live {
		ids[i] = m.ID
	}
	league := feed.League{Slug: slug, Name: slug}
	for _, l := range feed.Leagues() {
		if l.Slug == slug {
			league = l
		}
	}
	return latestScoresView(league, ids), nil
}
