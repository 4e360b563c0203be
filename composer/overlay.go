package composer

import (
	"bufio"
	"context"
	"slices"
	"time"
)

// Overlay is what the debug overlay of a page composed with Request.Debug
// shows; Options.Overlay renders it.
type Overlay struct {
	// Includes counts the includes settled when the page ended, at every
	// depth; Total is the page's time.
	Includes int
	Total    time.Duration
	// Phases are plan, cache lookup, primaries, stream and total.
	Phases []Phase
	// Outcomes counts the includes per outcome, in Outcomes() order,
	// leaving out those with none.
	Outcomes []OutcomeCount
	// Slowest are up to ten includes, the slowest first.
	Slowest []SlowInclude
	// Nonce is the response's Content-Security-Policy nonce, for an inline
	// script.
	Nonce string
}

// Phase is one step of a page's composition and how long it took.
type Phase struct {
	Name     string
	Duration time.Duration
}

// OutcomeCount is how many includes of a page had one outcome.
type OutcomeCount struct {
	Outcome Outcome
	N       int
}

// SlowInclude is one include of a page and how long it took.
type SlowInclude struct {
	Fragment string
	Outcome  Outcome
	Duration time.Duration
}

// overlay gathers the debug overlay's figures for the page of tops.
func (r *request) overlay(tops []node, t timing, nonce string) Overlay {
	var counts [len(outcomeNames)]int
	var slowest []SlowInclude
	eachSettled(tops, func(n *node) {
		counts[n.outcome]++
		if len(slowest) < 10 || n.dur > slowest[len(slowest)-1].Duration {
			slowest = append(slowest, SlowInclude{n.name(), n.outcome, n.dur})
			slices.SortFunc(slowest, func(a, b SlowInclude) int { return int(b.Duration - a.Duration) })
			if len(slowest) > 10 {
				slowest = slowest[:10]
			}
		}
	})
	o := Overlay{Total: t.total, Slowest: slowest, Nonce: nonce, Phases: []Phase{
		{"plan", t.plan}, {"cache lookup", t.lookup}, {"primaries", t.primaries},
		{"stream", t.total - t.plan - t.lookup - t.primaries}, {"total", t.total}}}
	for i, c := range counts {
		o.Includes += c
		if c > 0 {
			o.Outcomes = append(o.Outcomes, OutcomeCount{Outcome(i), c})
		}
	}
	return o
}

// writeOverlay writes the debug overlay with Options.Overlay (none
// without one).
func (r *request) writeOverlay(bw *bufio.Writer, tops []node, t timing, nonce string) {
	if r.c.opts.Overlay == nil {
		return
	}
	_ = r.c.opts.Overlay(r.overlay(tops, t, nonce)).Render(context.Background(), bw)
}
