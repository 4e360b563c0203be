package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// writeWorkloadsMarkdown writes the tables of the workloads other than the
// scores matrix, one row per run, then their targets.
func writeWorkloadsMarkdown(w io.Writer, res *results, o *options) {
	if len(res.Flaky) > 0 {
		writeFlakyTable(w, res, o)
	}
	if len(res.Down) > 0 {
		writeDownTable(w, res, o)
	}
	if len(res.Flat) > 0 {
		writeFlatTable(w, res, o)
	}
	if len(res.First) > 0 {
		writeFirstTable(w, res, o)
	}
	if len(res.ColdC1) > 0 {
		writeColdC1Table(w, res, o)
	}
	if len(res.Encoded) > 0 {
		writeEncodedTable(w, res, o)
	}
	writeWorkloadTargets(w, res, o)
}

// writeFlakyTable writes the remote-flaky table, a row per run.
func writeFlakyTable(w io.Writer, res *results, o *options) {
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

// writeDownTable writes the remote-down table, a row per run.
func writeDownTable(w io.Writer, res *results, o *options) {
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

// writeFlatTable writes the remote-flat table, a row per run.
func writeFlatTable(w io.Writer, res *results, o *options) {
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

// writeFirstTable writes the remote-first table, a row per run.
func writeFirstTable(w io.Writer, res *results, o *options) {
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

// writeColdC1Table writes the scores-cold-c1 table, a row per run.
func writeColdC1Table(w io.Writer, res *results, o *options) {
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

// writeEncodedTable writes the scores-encoded table, a row per run.
func writeEncodedTable(w io.Writer, res *results, o *options) {
	writeEncodedMarkdown(w, res.Encoded, o)
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
