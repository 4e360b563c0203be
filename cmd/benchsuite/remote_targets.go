package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

// writeWorkloadTargets checks the targets of the workloads: over every run
// for a target about every page, on the median of the runs otherwise.
func writeWorkloadTargets(w io.Writer, res *results, o *options) {
	var t targets
	if runs := okRuns(res.Encoded, func(r encodedResult) string { return r.Err }); len(runs) > 0 {
		t.encoded(runs)
	}
	if runs := okRuns(res.ColdC1, func(r coldC1Result) string { return r.Err }); len(runs) > 0 {
		t.coldC1(runs, o)
	}
	if runs := okRuns(res.Flaky, func(r flakyResult) string { return r.Err }); len(runs) > 0 {
		t.flaky(runs, o)
	}
	if runs := okRuns(res.Down, func(r downResult) string { return r.Err }); len(runs) > 0 {
		t.down(runs)
	}
	if runs := okRuns(res.Flat, func(r flatResult) string { return r.Err }); len(runs) > 0 {
		t.flat(runs, o)
	}
	if runs := okRuns(res.First, func(r firstResult) string { return r.Err }); len(runs) > 0 {
		t.first(runs, o)
	}
	t.write(w, "### Targets of the remote and cold-c1 workloads")
}

// targets are the rows of a table of targets: target, figure, verdict.
type targets [][3]string

// add appends target's row, met when ok.
func (t *targets) add(target, figure string, ok bool) {
	*t = append(*t, [3]string{target, figure, verdict(ok)})
}

// write writes the table under title, if it has a row.
func (t targets) write(w io.Writer, title string) {
	if len(t) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | figure | verdict |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, r := range t {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	fmt.Fprintln(w)
}

// encoded checks scores-encoded: the warm gzip page's throughput and size against the uncompressed page and gzip -6, on the medians of the runs.
func (t *targets) encoded(runs []encodedResult) {
	var ratio, size []float64
	decodes := true
	for _, r := range runs {
		for _, c := range r.Codings {
			decodes = decodes && c.Decodes
			if c.AcceptEncoding == "gzip" {
				ratio = append(ratio, c.Ratio)
				size = append(size, float64(c.Bytes)/float64(r.Gzip6))
			}
		}
	}
	t.add(fmt.Sprintf("warm %d gzip: ≥ 70%% of the uncompressed page's throughput, ≤ 1.3× gzip -6, every coding decodes to the page", encodedSize),
		fmt.Sprintf("throughput ratio %.2f, %.2f× gzip -6 (medians of runs); decodes %v", median(ratio), median(size), decodes),
		median(ratio) >= 0.7 && median(size) <= 1.3 && decodes)
}

// coldC1 checks scores-cold-c1: the scores on every page, every page within its budget.
func (t *targets) coldC1(runs []coldC1Result, o *options) {
	minPresent, pages, within := int64(-1), 0, 0
	var p50 []float64
	for _, r := range runs {
		minPresent = minOr(minPresent, r.Pages.Present.Min)
		pages += r.Pages.Pages
		within += r.WithinBudget
		p50 = append(p50, loadtest.Millis(r.Pages.TTLB.P50))
	}
	t.add(fmt.Sprintf("in process, cold %d at c=1: ≥ 99%% of the scores on every page, within the budget", coldC1Size),
		fmt.Sprintf("fewest scores on a page %d; %d / %d pages within %s ms; TTLB p50 %.0f ms (median of runs)", minPresent, within, pages, fmtMS(o.budget), median(p50)),
		minPresent >= coldC1Size*99/100 && within == pages && pages > 0)
}

// flaky checks remote-flaky after its first second: every page whole, p99 within the budget, a page at c=1 under 60 ms.
func (t *targets) flaky(runs []flakyResult, o *options) {
	want := o.wantFast(o.remoteSlowEvery)
	minPresent, full, okPages := int64(-1), 0, 0
	var worstP99 time.Duration
	var c1 []float64
	c1Fewest := int64(-1)
	for _, r := range runs {
		minPresent = minOr(minPresent, r.Rest.Present.Min)
		full, okPages = full+r.Rest.Full, okPages+r.Rest.Pages
		worstP99 = max(worstP99, r.Rest.TTLB.P99)
		c1 = append(c1, loadtest.Millis(r.C1.TTLB.P50))
		c1Fewest = minOr(c1Fewest, r.C1.Present.Min)
	}
	t.add(fmt.Sprintf("flaky service, after the first second: every page holds ≥ %d fragments", want),
		fmt.Sprintf("fewest on a page %d; %d / %d pages hold ≥ %d", minPresent, full, okPages, want), minPresent >= want && full == okPages)
	limit := o.remoteBudget + 10*time.Millisecond
	t.add(fmt.Sprintf("flaky service: p99 within the page budget + 10 ms at c=%d", o.concurrency),
		fmt.Sprintf("worst p99 %s ms (limit %s ms)", fmtMS(worstP99), fmtMS(limit)), worstP99 <= limit)
	t.add(fmt.Sprintf("flaky service: a page at c=1 under 60 ms p50, holding ≥ %d fragments", want),
		fmt.Sprintf("TTLB p50 %.1f ms (median of runs); fewest fragments on a page %d", median(c1), c1Fewest), median(c1) < 60 && c1Fewest >= want)
}

// down checks remote-down: the breaker opens within 1 s, pages go on at full speed, the host is in use again within 2 s.
func (t *targets) down(runs []downResult) {
	var open, inUse, speed []float64
	var openAtKill []string
	for _, r := range runs {
		if r.AtKill != "closed" {
			openAtKill = append(openAtKill, fmt.Sprintf("run %d: %s", r.Run, r.AtKill))
		}
		open = append(open, orLong(r.OpenMS))
		inUse = append(inUse, orLong(r.InUseMS))
		if r.Before.PerSecond > 0 {
			speed = append(speed, r.Down.PerSecond/r.Before.PerSecond)
		}
	}
	target := "service down (connection refused): its breaker opens within 1 s"
	if len(openAtKill) > 0 {
		// Not closed at the kill: when it would have opened is not seen.
		*t = append(*t, [3]string{target, "the breaker was not closed at the kill (" + strings.Join(openAtKill, ", ") + ")", "not measured"})
	} else {
		t.add(target, fmt.Sprintf("logged open %s ms after the kill (worst run)", fmtNever(worst(open))), slices.Max(open) <= 1000)
	}
	t.add("service down: pages go on at full speed (pages/s while down ≥ 90% of before)",
		fmt.Sprintf("down / before: %s", fmtRatios(speed)), len(speed) == len(runs) && slices.Min(speed) >= 0.9)
	t.add("service back: in use again within 2 s of its return", fmt.Sprintf("after %s ms (worst run)", fmtNever(worst(inUse))), slices.Max(inUse) <= 2000)
}

// flat checks remote-flat: half of the floor's throughput and p99 under 10 ms, on the medians of the runs.
func (t *targets) flat(runs []flatResult, o *options) {
	var ratio, p99 []float64
	for _, r := range runs {
		ratio = append(ratio, r.Ratio)
		p99 = append(p99, loadtest.Millis(r.Target.TTLB.P99))
	}
	t.add(fmt.Sprintf("flat page of %d remote includes, warm: ≥ 50%% of the floor", o.remoteIncludes),
		fmt.Sprintf("%.0f%% (median of runs: %s)", 100*median(ratio), fmtRatios(ratio)), median(ratio) >= 0.5)
	t.add("flat page, warm: p99 < 10 ms", fmt.Sprintf("TTLB p99 %.2f ms (median of runs)", median(p99)), median(p99) < 10)
}

// first checks remote-first: a fresh composer's first page under 75 ms and whole.
func (t *targets) first(runs []firstResult, o *options) {
	var meds, floors []float64
	fewest := int64(-1)
	for _, r := range runs {
		meds, floors = append(meds, r.MedianMS), append(floors, r.FloorMedianMS)
		for _, p := range r.Starts {
			fewest = minOr(fewest, p.Present)
		}
	}
	t.add(fmt.Sprintf("first page of %d includes at %s each, from a fresh composer: under 75 ms, whole", o.remoteIncludes, o.remoteLatency),
		fmt.Sprintf("median %.1f ms (%d starts per run, %d runs; Go's bare client on the same URLs: %.1f ms); fewest fragments on a first page %d of %d",
			median(meds), o.remoteFirstStarts, len(runs), median(floors), fewest, o.remoteIncludes),
		median(meds) < 75 && fewest == int64(o.remoteIncludes))
}
