package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

// stateColors keeps a state's colour the same on every plot.
var stateColors = map[string]string{
	"l1": "#1f77b4", "redis": "#d62728", "cold": "#2ca02c", "hang": "#9467bd", "hangcold": "#ff7f0e",
}

// scoresPlots are the plots of the scores matrix, by file name: the page's
// latency by size against its budget, and its throughput against the
// floor's. It returns nothing when the matrix did not run.
func scoresPlots(res *results, o *options) map[string]*lineChart {
	if len(res.Medians) == 0 {
		return nil
	}
	x := make([]string, len(o.sizes))
	for i, n := range o.sizes {
		x[i] = tickLabel(float64(n))
	}
	// at is the median of state at each size; NaN where it did not run.
	at := func(state string, f func(*summary) float64) []float64 {
		ys := make([]float64, len(o.sizes))
		for i, size := range o.sizes {
			ys[i] = math.NaN()
			for j := range res.Medians {
				if s := &res.Medians[j]; s.State == state && s.Size == size && s.Runs > 0 {
					ys[i] = f(s)
				}
			}
		}
		return ys
	}
	title := func(what string) string {
		return fmt.Sprintf("%s (c=%d, medians of %d runs, %s)", what, o.concurrency, o.runs, res.Machine.Started[:min(10, len(res.Machine.Started))])
	}
	latency := &lineChart{
		Title:  title("Scores page: time to last byte"),
		XLabel: "score includes per page",
		YLabel: "TTLB, ms (log scale)",
		X:      x,
		LogY:   true,
		Rules: []rule{
			{Y: loadtest.Millis(o.budget + 10*time.Millisecond), Label: "budget + 10 ms"},
			{Y: 10, Label: "10 ms (warm p99 aim)"},
		},
	}
	ratio := &lineChart{
		Title:  title("Scores page: throughput ÷ the floor's"),
		XLabel: "score includes per page",
		YLabel: "composer req/s ÷ floor req/s",
		X:      x,
		Rules:  []rule{{Y: 0.5, Label: "aim, warm (50%)"}, {Y: 0.3, Label: "target, warm (30%)"}},
	}
	for _, state := range o.states {
		c := stateColors[state]
		latency.Series = append(latency.Series,
			series{Name: state + " p99", Color: c, Y: at(state, func(s *summary) float64 { return loadtest.Millis(s.TTLB.P99) })},
			series{Name: state + " p50", Color: c, Dashed: true, Y: at(state, func(s *summary) float64 { return loadtest.Millis(s.TTLB.P50) })})
		ratio.Series = append(ratio.Series, series{Name: state, Color: c, Y: at(state, func(s *summary) float64 { return s.Ratio })})
	}
	return map[string]*lineChart{"scores-latency.svg": latency, "scores-throughput.svg": ratio}
}

// writePlots writes the plots of res into dir and returns their paths.
func writePlots(dir string, res *results, o *options) ([]string, error) {
	plots := scoresPlots(res, o)
	if len(plots) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("benchsuite: plots: %w", err)
	}
	var paths []string
	for _, name := range slices.Sorted(maps.Keys(plots)) {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("benchsuite: plots: %w", err)
		}
		err = plots[name].writeSVG(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("benchsuite: plot %s: %w", strconv.Quote(path), err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
