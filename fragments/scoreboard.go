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
		Name:   "scoreboard",
		Render: Scoreboard,
		Doc:    "Every score of the league, or of one division: a heading and one score include per match. A division has 4,000 matches: a larger size lists them all.",
		Params: []composer.ParamSpec{
			{Name: "size", Default: "2000", Int: true, Max: feed.MaxMatches, Clamp: true, MaxLen: 5, Doc: "How many matches to list, up to 20000."},
			{Name: "league", Values: feed.LeagueSlugs(), Doc: "A division; empty for every division."},
		},
		Includes: []string{"score"},
		Defaults: composer.Settings{
			Timeout:  150 * time.Millisecond,
			Fresh:    30 * time.Second,
			Stale:    10 * time.Minute,
			Fallback: `<p class="bs-fallback">Scores are taking a moment… please refresh.</p>`,
			// 20,000 matches (?size=20000) write 1.1 MB, over the site's
			// 1 MiB default: room for them (TestScoreboardSizes).
			MaxBytes: 2 << 20,
		},
		Example: map[string]string{"size": "40", "league": "premier"},
	})
}

// Scoreboard renders a heading and a score include for each of the first
// size matches of param league (every division when empty).
func Scoreboard(ctx context.Context, p composer.Params) (templ.Component, error) {
	size, err := strconv.Atoi(p.Get("size"))
	if err != nil {
		return nil, err
	}
	league := p.Get("league")
	ids, err := feed.Default.MatchIDs(ctx, league, min(size, feed.MaxMatches))
	if err != nil {
		return nil, err
	}
	title := "All divisions"
	for _, l := range feed.Leagues() {
		if l.Slug == league {
			title = l.Name
		}
	}
	return scoreboardView(title, ids), nil
}

// formatCount writes n with thousands separators.
func formatCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
