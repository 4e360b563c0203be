package fragments

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
)

func init() {
	register(composer.Spec{
		Name:   "score",
		Render: Score,
		Doc:    "One match's score line, as a single <li>: home, score, away and match clock. Included thousands of times by scoreboard.",
		Params: []composer.ParamSpec{
			{Name: "match", Required: true, Pattern: `m[0-9]{4}|m[1-9][0-9]{4}`, MaxLen: 6, Doc: "The match id, m0001 to m20000 (four digits at least, no other leading zero: one spelling, one cache key)."},
		},
		// A goal is published as match.updated: the score changes on every
		// page within a second, whatever its fresh time, which only has to
		// keep up with the match clock (one tick every ten seconds).
		Events: []composer.EventDep{{Topic: "match.updated"}},
		Defaults: composer.Settings{
			Timeout:  60 * time.Millisecond,
			Fresh:    10 * time.Second,
			Stale:    2 * time.Minute,
			Fallback: `<li class="bs-score bs-fallback">Score unavailable</li>`,
		},
		Example: map[string]string{"match": "m0042"},
	})
}

// Score renders the score line of param match. An unknown match is
// composer.ErrNotFound.
func Score(ctx context.Context, p composer.Params) (templ.Component, error) {
	id := p.Get("match")
	m, ok, err := feed.Default.Match(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("fragments: match %s: %w", id, composer.ErrNotFound)
	}
	return scoreView(m), nil
}

// result is the score as shown between the teams.
func result(m feed.Match) string {
	if m.Status == feed.Scheduled {
		return "v"
	}
	return strconv.Itoa(m.HomeGoals) + "–" + strconv.Itoa(m.AwayGoals)
}
