package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

// results is what -json writes.
type results struct {
	Machine  machine       `json:"machine"`
	Options  optionsRecord `json:"options"`
	Finished string        `json:"finished"`
	// LoadEnd is the machine's load average when the suite finished.
	LoadEnd string    `json:"load_end,omitempty"`
	Cells   []cell    `json:"cells"`
	Medians []summary `json:"medians"`

	// The other workloads, one entry per run.
	Flaky       []flakyResult       `json:"remote_flaky,omitempty"`
	Down        []downResult        `json:"remote_down,omitempty"`
	Flat        []flatResult        `json:"remote_flat,omitempty"`
	First       []firstResult       `json:"remote_first,omitempty"`
	ColdC1      []coldC1Result      `json:"scores_cold_c1,omitempty"`
	Encoded     []encodedResult     `json:"scores_encoded,omitempty"`
	NotModified []notModifiedResult `json:"scores_304,omitempty"`
}

var stateTitles = map[string]string{
	"l1":       "Warm in the in-process tier (L1)",
	"redis":    "Warm in Redis only (in-process tier off)",
	"cold":     "Cold: nothing cached, every fragment call 5 ms",
	"hang":     "1% of score calls hang (every score misses, scoreboard warm, calls otherwise instant)",
	"hangcold": "1% of feed calls hang, nothing cached (scoreboard too)",
}

func fmtMS(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f", loadtest.Millis(d))
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f", loadtest.Millis(d))
	default:
		return fmt.Sprintf("%.2f", loadtest.Millis(d))
	}
}

// fmtSignedMS writes a difference in milliseconds with its sign: +1.12,
// −4.86.
func fmtSignedMS(d time.Duration) string {
	if d < 0 {
		return "−" + fmtMS(-d)
	}
	return "+" + fmtMS(d)
}

func fmtP(p loadtest.Percentiles) string {
	return fmt.Sprintf("%s / %s / %s / %s", fmtMS(p.P50), fmtMS(p.P90), fmtMS(p.P99), fmtMS(p.Max))
}

// writeMarkdown writes the machine and the settings, then the tables of
// the workloads that ran.
func writeMarkdown(w io.Writer, res *results, o *options) {
	m := res.Machine
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s, Go %s, %s, kernel %s; started %s, finished %s",
		m.CPUs, m.CPUModel, m.MemTotal, m.Go, m.Redis, m.Kernel, m.Started, res.Finished)
	if m.LoadStart != "" {
		fmt.Fprintf(w, "; load average %s at the start, %s at the end", m.LoadStart, res.LoadEnd)
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintf(w, "Concurrency %d, closed loop; %s measured per run after %s warm-up; median of %d runs; latencies in ms (p50 / p90 / p99 / max).\n\n",
		o.concurrency, o.duration, o.warmup, o.runs)
	if o.selected("scores") {
		writeScoresMarkdown(w, res, o)
	}
	writeWorkloadsMarkdown(w, res, o)
	if len(res.NotModified) > 0 {
		writeNotModifiedMarkdown(w, res.NotModified, o)
	}
}

// writeScoresMarkdown writes the scores matrix: a table per state, the
// Redis, cold, hang and memory details and the targets.
func writeScoresMarkdown(w io.Writer, res *results, o *options) {
	byState := map[string][]summary{}
	for _, s := range res.Medians {
		byState[s.State] = append(byState[s.State], s)
	}
	for _, state := range o.states {
		rows := byState[state]
		writeStateTable(w, state, rows)
		switch state {
		case "redis":
			writeRedisTable(w, rows, o)
		case "cold":
			writeColdTable(w, rows, o)
		case "hang", "hangcold":
			writeHangTable(w, rows, o)
		}
	}
	writeTargets(w, res.Medians, o)
}

// writeStateTable writes the table of a state: a row for each size.
func writeStateTable(w io.Writer, state string, rows []summary) {
	fmt.Fprintf(w, "### %s\n\n", stateTitles[state])
	fmt.Fprintln(w, "| includes | req/s | floor req/s | ratio | TTFB | TTLB | floor TTLB | errors / requests | incomplete (debug check) | peak RSS MiB |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---|---|---|---:|---:|---:|")
	for _, s := range rows {
		if s.Runs == 0 {
			fmt.Fprintf(w, "| %d | failed in %d runs | | | | | | | | |\n", s.Size, s.Failed)
			continue
		}
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.2f | %s | %s | %s | %d / %d | %d / %d | %.0f |\n",
			s.Size, s.Throughput, s.FloorThroughput, s.Ratio, fmtP(s.TTFB), fmtP(s.TTLB), fmtP(s.FloorTTLB),
			s.Errors, s.Requests, s.CheckErrors, s.CheckPages, s.RSSPeakMiB)
	}
	fmt.Fprintln(w)
}

// writeRedisTable writes the Redis details of the redis state: commands
// per page, and the composer against bare MGETs.
func writeRedisTable(w io.Writer, rows []summary, o *options) {
	fmt.Fprintf(w, "| includes | Redis cmds/page | by command | entry keys | c=%d: composer TTLB p50 / bare MGETs p50 (p99) | c=1: composer TTLB p50 / bare MGETs p50 |\n", o.concurrency)
	fmt.Fprintln(w, "|---:|---:|---|---:|---|---|")
	for _, s := range rows {
		if s.Runs == 0 || s.MGETPage == nil {
			continue
		}
		c1 := "-"
		if s.C1TTLB != nil && s.MGET1Page != nil {
			c1 = fmt.Sprintf("%s / %s (cmds/page: %s)", fmtMS(s.C1TTLB.P50), fmtMS(s.MGET1Page.P50), formatCmds(s.RedisCmdsC1))
		}
		fmt.Fprintf(w, "| %d | %.2f | %s | %d | %s / %s (%s) | %s |\n", s.Size, s.RedisCmdsPerPage,
			formatCmds(s.RedisCmds), s.RedisKeys, fmtMS(s.TTLB.P50), fmtMS(s.MGETPage.P50), fmtMS(s.MGETPage.P99), c1)
	}
	fmt.Fprintln(w)
}

// writeColdTable writes the cold state's TTLB alone and under load.
func writeColdTable(w io.Writer, rows []summary, o *options) {
	fmt.Fprintln(w, "| includes | TTLB at concurrency 1 | TTLB at concurrency "+fmt.Sprint(o.concurrency)+" |")
	fmt.Fprintln(w, "|---:|---|---|")
	for _, s := range rows {
		if s.Runs == 0 || s.C1TTLB == nil {
			continue
		}
		fmt.Fprintf(w, "| %d | %s | %s |\n", s.Size, fmtP(*s.C1TTLB), fmtP(s.TTLB))
	}
	fmt.Fprintln(w)
}

// writeHangTable writes a hang state's status codes and outcomes, and its
// p99 against the budget.
func writeHangTable(w io.Writer, rows []summary, o *options) {
	fmt.Fprintln(w, "| includes | status codes | debug outcomes per page | TTLB p99 | budget + 10 ms |")
	fmt.Fprintln(w, "|---:|---|---|---:|---:|")
	for _, s := range rows {
		if s.Runs == 0 {
			continue
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", s.Size, fmtStatus(s.Status),
			fmtOutcomes(s.CheckOutcomes, s.CheckPages), fmtMS(s.TTLB.P99), fmtMS(o.budget+10*time.Millisecond))
	}
	fmt.Fprintln(w)
}

func fmtStatus(st map[int]int) string {
	var out string
	for _, code := range slices.Sorted(maps.Keys(st)) {
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%d×%d", code, st[code])
	}
	return out
}

func fmtOutcomes(o map[string]int64, pages int) string {
	if pages == 0 {
		return "-"
	}
	var out string
	for _, k := range slices.Sorted(maps.Keys(o)) {
		if o[k] == 0 {
			continue
		}
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %.1f", k, float64(o[k])/float64(pages))
	}
	return out
}

// writeTargets checks the targets against the medians.
func writeTargets(w io.Writer, ms []summary, o *options) {
	fmt.Fprintln(w, "### Targets (medians above)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | figure | verdict |")
	fmt.Fprintln(w, "|---|---|---|")
	if s := findMedian(ms, "l1", 2000); s != nil {
		writeL1Targets(w, s)
	}
	if s := findMedian(ms, "redis", 2000); s != nil && s.MGETPage != nil {
		writeRedisTargets(w, s, o)
	}
	if s := findMedian(ms, "cold", 2000); s != nil {
		writeColdTarget(w, s, o)
	}
	for _, size := range o.sizes {
		for _, state := range []string{"hang", "hangcold"} {
			if s := findMedian(ms, state, size); s != nil {
				writeHangTarget(w, s, o)
			}
		}
	}
	for _, state := range o.states {
		if s := findMedian(ms, state, 10000); s != nil {
			write10000Target(w, s, o)
		}
	}
	fmt.Fprintln(w)
}

// findMedian returns the median of state at size among ms, if any run of
// it succeeded; else nil.
func findMedian(ms []summary, state string, size int) *summary {
	for i := range ms {
		if ms[i].State == state && ms[i].Size == size && ms[i].Runs > 0 {
			return &ms[i]
		}
	}
	return nil
}

// verdict is a target's verdict: met when ok.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// writeL1Targets checks the warm in-process tier at 2,000 includes (s):
// throughput against the floor, and p99.
func writeL1Targets(w io.Writer, s *summary) {
	fmt.Fprintf(w, "| warm L1, 2,000: throughput ≥ 30%% of floor (aim 50%%) | %.0f%% (%.0f / %.0f req/s) | %s |\n",
		100*s.Ratio, s.Throughput, s.FloorThroughput, verdict(s.Ratio >= 0.30))
	fmt.Fprintf(w, "| warm L1, 2,000: p99 < 10 ms | TTLB p99 %s ms | %s |\n", fmtMS(s.TTLB.P99), verdict(s.TTLB.P99 < 10*time.Millisecond))
}

// writeRedisTargets checks Redis alone at 2,000 includes (s): one round
// trip per level, and p50 within 2 ms of bare MGETs, at c and alone.
func writeRedisTargets(w io.Writer, s *summary, o *options) {
	// A page alone (c=1) makes exactly one MGET per level; concurrent
	// pages share the look-ups already in flight, so at c=16 there
	// are at most as many.
	alone := "-"
	ok := s.RedisCmds["mget"] < 2.01
	if s.RedisCmdsC1 != nil {
		alone = fmt.Sprintf("%.2f", s.RedisCmdsC1["mget"])
		ok = ok && s.RedisCmdsC1["mget"] > 1.99 && s.RedisCmdsC1["mget"] < 2.01
	}
	fmt.Fprintf(w, "| Redis only, 2,000: one round trip per level (2 levels) | MGETs per page: %s alone (c=1); %.2f at c=%d, where concurrent pages share look-ups in flight (all commands: %s) | %s |\n",
		alone, s.RedisCmds["mget"], o.concurrency, formatCmds(s.RedisCmds), verdict(ok))
	d := s.TTLB.P50 - s.MGETPage.P50
	fmt.Fprintf(w, "| Redis only, 2,000: p50 within 2 ms of a bare MGET (c=%d) | %s ms vs %s ms (%s ms) | %s |\n",
		o.concurrency, fmtMS(s.TTLB.P50), fmtMS(s.MGETPage.P50), fmtSignedMS(d), verdict(d <= 2*time.Millisecond))
	if s.C1TTLB != nil && s.MGET1Page != nil {
		d := s.C1TTLB.P50 - s.MGET1Page.P50
		fmt.Fprintf(w, "| (same at c=1) | %s ms vs %s ms (%s ms) | %s |\n",
			fmtMS(s.C1TTLB.P50), fmtMS(s.MGET1Page.P50), fmtSignedMS(d), verdict(d <= 2*time.Millisecond))
	}
}

// writeColdTarget checks the cold page of 2,000 includes (s): complete,
// in under 30 ms alone.
func writeColdTarget(w io.Writer, s *summary, o *options) {
	c1 := "-"
	ok := s.TTLB.P50 < 30*time.Millisecond
	if s.C1TTLB != nil {
		c1 = fmtMS(s.C1TTLB.P50)
		ok = s.C1TTLB.P50 < 30*time.Millisecond
	}
	fmt.Fprintf(w, "| cold, 2,000 at 5 ms: complete page < 30 ms | TTLB p50 %s ms alone (c=1), %s ms at c=%d; incomplete %d / %d | %s |\n",
		c1, fmtMS(s.TTLB.P50), o.concurrency, s.CheckErrors, s.CheckPages, verdict(ok && s.CheckErrors == 0))
}

// writeHangTarget checks a hang state at one size (s): p99 within the
// budget and 10 ms, every page complete.
func writeHangTarget(w io.Writer, s *summary, o *options) {
	limit := o.budget + 10*time.Millisecond
	fmt.Fprintf(w, "| 1%% hanging (%s), %d: p99 ≤ budget + 10 ms, every page complete | TTLB p99 %s ms (limit %s); errors %d / %d, incomplete %d / %d | %s |\n",
		s.State, s.Size, fmtMS(s.TTLB.P99), fmtMS(limit), s.Errors, s.Requests, s.CheckErrors, s.CheckPages,
		verdict(s.TTLB.P99 <= limit && s.Errors == 0 && s.CheckErrors == 0))
}

// write10000Target checks a state at 10,000 includes (s): within the
// budget, memory bounded.
func write10000Target(w io.Writer, s *summary, o *options) {
	fmt.Fprintf(w, "| 10,000 (%s): within budget, memory bounded | TTLB p99 %s ms (budget %s); errors %d, incomplete %d / %d; RSS %.0f MiB idle, %.0f MiB peak at c=%d | %s |\n",
		s.State, fmtMS(s.TTLB.P99), fmtMS(o.budget), s.Errors, s.CheckErrors, s.CheckPages, s.RSSIdleMiB, s.RSSPeakMiB, o.concurrency,
		verdict(s.TTLB.P99 <= o.budget+10*time.Millisecond && s.Errors == 0 && s.CheckErrors == 0))
}

// report writes res as Markdown to stdout and to -md, as JSON to -json and
// as plots into -plots, naming the plots it wrote on log.
func report(stdout, log io.Writer, res *results, o *options) error {
	var md strings.Builder
	writeMarkdown(&md, res, o)
	io.WriteString(stdout, md.String())
	if o.mdPath != "" {
		if err := os.WriteFile(o.mdPath, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.plotsDir != "" {
		paths, err := writePlots(o.plotsDir, res, o)
		if err != nil {
			return err
		}
		for _, p := range paths {
			fmt.Fprintf(log, "wrote %s\n", p)
		}
	}
	return nil
}
