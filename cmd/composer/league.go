package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/broadsheet/broadsheet/events"
	"github.com/broadsheet/broadsheet/fragments/feed"
)

// runLeague publishes the demo league's goals until ctx ends: every second
// it compares the first n matches with a second ago and publishes
// match.updated for each whose score changed. It reads the feed with no
// simulated latency: it is the league's own source of truth, not a reader.
func runLeague(ctx context.Context, p events.Publisher, n int, log *slog.Logger) {
	src := feed.New(feed.Options{Now: feed.Now})
	last := map[string][2]int{}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		ms, err := src.Matches(ctx, n)
		if err != nil {
			return
		}
		for _, m := range ms {
			score := [2]int{m.HomeGoals, m.AwayGoals}
			if old, seen := last[m.ID]; seen && old != score {
				if _, err := p.Publish(ctx, events.Event{Topic: "match.updated", Params: map[string]string{"match": m.ID}}); err != nil && ctx.Err() == nil {
					log.Debug("events: league could not publish a goal", "match", m.ID, "err", err)
				}
			}
			last[m.ID] = score
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
