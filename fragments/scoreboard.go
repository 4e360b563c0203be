package fragments

import (
	"context"
	"slices"
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
		Doc:    "Every score of the league, by division, or of one division: a heading and one score include per match. A division has 4,000 matches: a larger size lists them all.",
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
	if league != "" {
		for _, l := range feed.Leagues() {
			if l.Slug == league {
				return scoreboardView(l.Name, len(ids), []division{{ids: ids}}), nil
			}
		}
	}
	return scoreboardView("All divisions", len(ids), byDivision(ids)), nil
}

// division is one division's matches on a board; league is empty on a
// board of one division (its title names it).
type division struct {
	league feed.League
	ids    []string
}

// byDivision groups ids by division, in the order of feed.Leagues, each
// division's in the order given; divisions without a match are left out.
func byDivision(ids []string) []division {
	ls := feed.Leagues()
	ds := make([]division, len(ls))
	for i, l := range ls {
		ds[i].league = l
	}
	for _, id := range ids {
		if l, ok := feed.LeagueOf(id); ok {
			i := slices.Index(ls, l)
			ds[i].ids = append(ds[i].ids, id)
		}
	}
	return slices.DeleteFunc(ds, func(d division) bool { return len(d.ids) == 0 })
}

// formatCount writes n with thousands separators.
func formatCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
