package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

// coldC1Size is the size of the scores page of the cold-c1 workload.
const coldC1Size = 10000

// outcomeMarker is the debug marker of an include of fragment served
// with outcome: the composer writes data-outcome right after
// data-fragment. (The debug overlay's counts carry data-outcome alone.)
func outcomeMarker(fragment, outcome string) string {
	return `data-fragment="` + fragment + `" data-outcome="` + outcome + `"`
}

// coldC1Result is the cold-c1 workload of one run: the scores page of
// 10,000 includes, in process, nothing cached (-l1-mb 0 -stitch-mb 0, no
// Redis), every feed call -cold-latency (-feed-slow-every 0), one page at
// a time with ?debug=1, for -duration, on a fresh composer.
type coldC1Result struct {
	Run int    `json:"run"`
	Err string `json:"error,omitempty"`
	// Pages counts as present the scores served as hit, stale or miss
	// and as missing those served as timeout, error, fallback or
	// placeholder.
	Pages pageFigures `json:"pages"`
	// Timeouts are the scores per page served as timeout.
	Timeouts countStats `json:"timeouts"`
	// WithinBudget counts the pages that ended within -budget.
	WithinBudget int `json:"within_budget"`
}

// coldC1Presence reads the scores page's debug outcomes.
func coldC1Presence() presence {
	return newPresence(
		[]string{outcomeMarker("score", "hit"), outcomeMarker("score", "stale"), outcomeMarker("score", "miss")},
		[]string{outcomeMarker("score", "timeout"), outcomeMarker("score", "error"), outcomeMarker("score", "fallback"), outcomeMarker("score", "placeholder")},
		nil)
}

func (s *suite) coldC1(ctx context.Context, run int) (r coldC1Result) {
	r.Run = run + 1
	name := fmt.Sprintf("scores-cold-c1-run%d", run+1)
	cp, base, err := s.startComposer(ctx, name, []string{
		"-config", s.warm, "-log-level", "warn", "-demo-league", "0",
		"-l1-mb", "0", "-stitch-mb", "0", "-feed-latency", s.o.coldLatency.String(), "-feed-slow-every", "0",
	})
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer cp.Stop()
	pr := coldC1Presence()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		URLs:        []string{base + pagePath + "?debug=1&size=" + strconv.Itoa(coldC1Size)},
		Concurrency: 1, Duration: s.o.duration, MaxRequests: s.o.maxRequests,
		Markers: pr.markers, KeepPages: true,
	})
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Pages = summarize(rep.Pages, pr, time.Time{}, time.Time{}, rep.Elapsed, coldC1Size*99/100)
	timeout := pr.missing[0]
	var timeouts []int64
	for i := range rep.Pages {
		pg := &rep.Pages[i]
		if pg.Err != nil {
			continue
		}
		timeouts = append(timeouts, pg.Markers[timeout])
		if pg.TTLB <= s.o.budget {
			r.WithinBudget++
		}
	}
	r.Timeouts = countsOf(timeouts)
	return r
}
