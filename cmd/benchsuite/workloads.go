package main

import (
	"context"
	"fmt"
)

// runWorkloads runs run's workloads other than the scores matrix, those
// selected, in allWorkloads order, adding their results to res.
func (s *suite) runWorkloads(ctx context.Context, run int, res *results, logf func(string, ...any)) error {
	for _, w := range allWorkloads {
		if w == "scores" || !s.o.selected(w) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logf("run %d/%d  %s", run+1, s.o.runs, w)
		var err, line string
		switch w {
		case "remote-flaky":
			r := s.flaky(ctx, run)
			res.Flaky = append(res.Flaky, r)
			err, line = r.Err, r.logLine(s.o)
		case "remote-down":
			r := s.down(ctx, run)
			res.Down = append(res.Down, r)
			err, line = r.Err, r.logLine()
		case "remote-flat":
			r := s.flat(ctx, run)
			res.Flat = append(res.Flat, r)
			err, line = r.Err, r.logLine()
		case "remote-first":
			r := s.first(ctx, run)
			res.First = append(res.First, r)
			err, line = r.Err, r.logLine()
		case "scores-encoded":
			r := s.encoded(ctx, run)
			res.Encoded = append(res.Encoded, r)
			err, line = r.Err, r.logLine()
		case "scores-304":
			r := s.notModified(ctx, run)
			res.NotModified = append(res.NotModified, r)
			err, line = r.Err, r.logLine()
		case "scores-cold-c1":
			r := s.coldC1(ctx, run)
			res.ColdC1 = append(res.ColdC1, r)
			err, line = r.Err, r.logLine()
		}
		if err != "" {
			fmt.Fprintf(s.log, "    error: %s\n", err)
			continue
		}
		fmt.Fprintf(s.log, "    %s\n", line)
	}
	return nil
}

// logLine is the run's line in the log: presence and latency after the first
// second, and alone.
func (r flakyResult) logLine(o *options) string {
	return fmt.Sprintf("after 1s: present min %d median %d of %d, p50 %s p99 %s ms; c=1 p50 %s ms",
		r.Rest.Present.Min, r.Rest.Present.Median, o.remoteIncludes, fmtMS(r.Rest.TTLB.P50), fmtMS(r.Rest.TTLB.P99), fmtMS(r.C1.TTLB.P50))
}

// logLine is the run's line in the log: pages per second around the fault,
// and how soon the pages saw it and its end.
func (r downResult) logLine() string {
	return fmt.Sprintf("pages/s before %.0f down %.0f after %.0f; breaker open +%.0f ms, back in use +%.0f ms, all fresh +%.0f ms",
		r.Before.PerSecond, r.Down.PerSecond, r.After.PerSecond, r.BreakerMS, r.InUseMS, r.FreshMS)
}

// logLine is the run's line in the log: throughput against the floor, p99
// and presence; "" without both runs.
func (r flatResult) logLine() string {
	if r.Target == nil || r.Floor == nil {
		return ""
	}
	return fmt.Sprintf("%.0f pages/s (floor %.0f, ratio %.2f), p99 %s ms, present min %d",
		r.Target.Throughput, r.Floor.Throughput, r.Ratio, fmtMS(r.Target.TTLB.P99), r.Pages.Present.Min)
}

// logLine is the run's line in the log: the median time to the first page.
func (r firstResult) logLine() string {
	return fmt.Sprintf("first page median %.1f ms over %d starts", r.MedianMS, len(r.Starts))
}

// logLine is the run's line in the log: each coding's throughput and size,
// then gzip -6's size and the load.
func (r encodedResult) logLine() string {
	var line string
	for _, c := range r.Codings {
		if c.Report != nil {
			line += fmt.Sprintf("%q %.0f req/s (%.2f) %d bytes; ", c.AcceptEncoding, c.Report.Throughput, c.Ratio, c.Bytes)
		}
	}
	return line + fmt.Sprintf("gzip -6 %d bytes; load %.1f/%.1f", r.Gzip6, r.LoadBefore, r.LoadAfter)
}

// logLine is the run's line in the log: full against conditional throughput;
// "" without both runs.
func (r notModifiedResult) logLine() string {
	if r.Full == nil || r.Conditional == nil {
		return ""
	}
	return fmt.Sprintf("full %.0f req/s, If-None-Match %.0f req/s (ratio %.2f, target ≥ %.0f); counted %s",
		r.Full.Throughput, r.Conditional.Throughput, r.Ratio, notModifiedTarget, fmtCounted(r.Counted))
}

// logLine is the run's line in the log: pages, p50, scores present and
// timeouts.
func (r coldC1Result) logLine() string {
	return fmt.Sprintf("%d pages, p50 %s ms, scores present min %d median %d, timeouts median %d",
		r.Pages.Pages, fmtMS(r.Pages.TTLB.P50), r.Pages.Present.Min, r.Pages.Present.Median, r.Timeouts.Median)
}
