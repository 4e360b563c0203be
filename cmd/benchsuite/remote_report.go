package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

// writeWorkloadsMarkdown writes the tables of the workloads other than the
// scores matrix, one row per run, then their targets.
func writeWorkloadsMarkdown(w io.Writer, res *results, o *options) {
	if len(res.Flaky) > 0 {
		fmt.Fprintf(w, "### remote-flaky: %d includes from a service slow one in %d, cold start, c=%d for %s (debug), then c=1\n\n",
			o.remoteIncludes, o.remoteSlowEvery, o.concurrency, o.duration)
		var rows []pageRow
		for _, r := range res.Flaky {
			rows = append(rows, pageRow{r.Run, r.Err, []string{"first second", "after the first second", "c=1 afterwards (no debug)"},
				[]pageFigures{r.FirstSecond, r.Rest, r.C1}})
		}
		writePageRows(w, o.wantFast(o.remoteSlowEvery), rows)
		fmt.Fprintln(w, "| run | the host's breaker, as the composer logged it (s from the start of the load) | service: connections / requests / slow / cancelled |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, r := range res.Flaky {
			if r.Err == "" {
				st := r.Service
				fmt.Fprintf(w, "| %d | %s | %d / %d / %d / %d |\n", r.Run, fmtBreaker(r.Breaker), st.Connections, st.Requests, st.Slow, st.Cancelled)
			}
		}
		fmt.Fprintln(w)
	}
	if len(res.Down) > 0 {
		fmt.Fprintf(w, "### remote-down: killed at +%s, started again at +%s (fast fragments `%s`), c=%d (debug)\n\n",
			downKill, downRestart, o.remoteDownCC, o.concurrency)
		var rows []pageRow
		for _, r := range res.Down {
			rows = append(rows, pageRow{r.Run, r.Err, []string{"before", "down", "after"}, []pageFigures{r.Before, r.Down, r.After}})
		}
		writePageRows(w, o.wantFast(o.remoteSlowEvery), rows)
		fmt.Fprintln(w, "| run | killed at (s) | breaker at the kill | breaker logged open after the kill (ms) | a page reports breaker_open after the kill (ms) | answering again at (s) | breaker logged closed after the return (ms) | a page holds a fragment of the new run after (ms) | a page holds all fast fragments from it after (ms) |")
		fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|")
		for _, r := range res.Down {
			if r.Err == "" {
				fmt.Fprintf(w, "| %d | %.2f | %s | %s | %s | %.2f | %s | %s | %s |\n", r.Run, r.KilledS, r.AtKill, fmtNever(r.OpenMS), fmtNever(r.BreakerMS),
					r.BackS, fmtNever(r.ClosedMS), fmtNever(r.InUseMS), fmtNever(r.FreshMS))
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| run | the host's breaker, as the composer logged it (s from the start of the load) |")
		fmt.Fprintln(w, "|---|---|")
		for _, r := range res.Down {
			if r.Err == "" {
				fmt.Fprintf(w, "| %d | %s |\n", r.Run, fmtBreaker(r.Breaker))
			}
		}
		fmt.Fprintln(w)
	}
	if len(res.Flat) > 0 {
		fmt.Fprintf(w, "### remote-flat: %d includes warm (fresh in L1), c=%d for %s, against the floor\n\n", o.remoteIncludes, o.concurrency, o.duration)
		fmt.Fprintln(w, "| run | pages/s | floor pages/s | ratio | TTLB p50 / p90 / p99 / max | floor TTLB | present per page min | errors / pages | service requests during the run |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---|---|---:|---:|---:|")
		for _, r := range res.Flat {
			if r.Err != "" || r.Target == nil || r.Floor == nil {
				fmt.Fprintf(w, "| %d | error: %s | | | | | | | |\n", r.Run, r.Err)
				continue
			}
			fmt.Fprintf(w, "| %d | %.0f | %.0f | %.2f | %s | %s | %d | %d / %d | %d |\n", r.Run, r.Target.Throughput, r.Floor.Throughput,
				r.Ratio, fmtP(r.Target.TTLB), fmtP(r.Floor.TTLB), r.Pages.Present.Min, r.Target.Errors, r.Target.Requests, r.ServiceRequests)
		}
		fmt.Fprintln(w)
	}
	if len(res.First) > 0 {
		fmt.Fprintf(w, "### remote-first: the first page of %d fresh composers per run (%d includes, service at %s, none slow)\n\n",
			o.remoteFirstStarts, o.remoteIncludes, o.remoteLatency)
		fmt.Fprintln(w, "Floor: Go's bare HTTP/1.1 client fetching the same URLs from a fresh transport, same connection bound, just before each start.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| run | first pages, TTLB (ms) | median (ms) | floor (ms) | floor median (ms) | present per first page | status | service connections / requests per first page |")
		fmt.Fprintln(w, "|---|---|---:|---|---:|---|---|---|")
		for _, r := range res.First {
			if r.Err != "" {
				fmt.Fprintf(w, "| %d | error: %s | | | | | | |\n", r.Run, r.Err)
				continue
			}
			var lat, floor, present, status, reqs []string
			for _, f := range r.FloorMS {
				floor = append(floor, fmt.Sprintf("%.1f", f))
			}
			for _, p := range r.Starts {
				lat = append(lat, fmt.Sprintf("%.1f", p.TTLBMS))
				present = append(present, fmt.Sprint(p.Present))
				status = append(status, fmt.Sprint(p.Status))
				reqs = append(reqs, fmt.Sprintf("%d / %d", p.ServiceConns, p.ServiceRequests))
			}
			fmt.Fprintf(w, "| %d | %s | %.1f | %s | %.1f | %s | %s | %s |\n", r.Run, strings.Join(lat, ", "), r.MedianMS,
				strings.Join(floor, ", "), r.FloorMedianMS, strings.Join(present, ", "), strings.Join(status, ", "), strings.Join(reqs, ", "))
		}
		fmt.Fprintln(w)
	}
	if len(res.ColdC1) > 0 {
		fmt.Fprintf(w, "### scores-cold-c1: the scores page of %d includes, nothing cached, feed %s, c=1 for %s (debug)\n\n", coldC1Size, o.coldLatency, o.duration)
		fmt.Fprintln(w, "| run | pages | TTLB p50 / p90 / p99 / max | within the budget | scores present per page min / median / max | timeouts per page min / median / max | status |")
		fmt.Fprintln(w, "|---|---:|---|---:|---|---|---|")
		for _, r := range res.ColdC1 {
			if r.Err != "" {
				fmt.Fprintf(w, "| %d | error: %s | | | | | |\n", r.Run, r.Err)
				continue
			}
			f := r.Pages
			fmt.Fprintf(w, "| %d | %d | %s | %d / %d (%s ms) | %s | %s | %s |\n", r.Run, f.Pages, fmtP(f.TTLB), r.WithinBudget, f.Pages,
				fmtMS(o.budget), fmtCounts(f.Present), fmtCounts(r.Timeouts), fmtStatus(f.Status))
		}
		fmt.Fprintln(w)
	}
	if len(res.Encoded) > 0 {
		writeEncodedMarkdown(w, res.Encoded, o)
	}
	writeWorkloadTargets(w, res, o)
}

// pageRow is a run's windows of a remote workload, for writePageRows.
type pageRow struct {
	run     int
	err     string
	windows []string
	figures []pageFigures
}

// writePageRows writes a table of the remote page's figures, a line per
// run and window; want is what a whole page holds.
func writePageRows(w io.Writer, want int64, rows []pageRow) {
	fmt.Fprintf(w, "| run | pages | pages/s | present per page min / median / max | pages with ≥ %d | placeholders per page (median) | TTLB p50 / p90 / p99 / max | status | breaker_open per page |\n", want)
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---|---|---:|")
	for _, r := range rows {
		if r.err != "" {
			fmt.Fprintf(w, "| %d | error: %s | | | | | | | |\n", r.run, r.err)
			continue
		}
		for i, f := range r.figures {
			perPage := "-"
			if f.Pages > 0 && f.Mentions != nil {
				perPage = fmt.Sprintf("%.1f", float64(f.Mentions[breakerMarker])/float64(f.Pages))
			}
			fmt.Fprintf(w, "| %d, %s | %d | %.0f | %s | %d / %d | %d | %s | %s | %s |\n", r.run, r.windows[i], f.Pages, f.PerSecond,
				fmtCounts(f.Present), f.Full, f.OK, f.Missing.Median, fmtP(f.TTLB), fmtStatusAndErrors(f), perPage)
		}
	}
	fmt.Fprintln(w)
}

func fmtCounts(c countStats) string { return fmt.Sprintf("%d / %d / %d", c.Min, c.Median, c.Max) }

func fmtStatusAndErrors(f pageFigures) string {
	s := fmtStatus(f.Status)
	if f.Transport > 0 {
		s += fmt.Sprintf(", %d without a response", f.Transport)
	}
	return s
}

// fmtBreaker lists breaker events as "at: from → to".
func fmtBreaker(events []breakerEvent) string {
	if len(events) == 0 {
		return "no change (closed throughout)"
	}
	const most = 12
	var parts []string
	for _, e := range events[:min(len(events), most)] {
		parts = append(parts, fmt.Sprintf("%.2f: %s → %s", e.AtS, e.From, e.To))
	}
	if len(events) > most {
		parts = append(parts, fmt.Sprintf("and %d more", len(events)-most))
	}
	return strings.Join(parts, "; ")
}

func fmtNever(ms float64) string {
	if ms < 0 {
		return "never"
	}
	return fmt.Sprintf("%.0f", ms)
}

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
	v := "**not met**"
	if ok {
		v = "met"
	}
	*t = append(*t, [3]string{target, figure, v})
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

// okRuns returns the runs without an error.
func okRuns[T any](runs []T, errOf func(T) string) []T {
	var out []T
	for _, r := range runs {
		if errOf(r) == "" {
			out = append(out, r)
		}
	}
	return out
}

func minOr(cur, x int64) int64 {
	if cur < 0 || x < cur {
		return x
	}
	return cur
}

// orLong turns "never" (-1) into a time longer than any target.
func orLong(ms float64) float64 {
	if ms < 0 {
		return 1e9
	}
	return ms
}

// worst is the largest of xs (made by orLong), or -1 for "never".
func worst(xs []float64) float64 {
	w := slices.Max(xs)
	if w >= 1e9 {
		return -1
	}
	return w
}

func fmtRatios(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(parts, ", ")
}
