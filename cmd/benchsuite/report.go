package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
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

// summary is the median of a state × size over the runs that succeeded;
// counts (requests, errors, fallbacks) are sums over those runs.
type summary struct {
	State  string `json:"state"`
	Size   int    `json:"size"`
	Runs   int    `json:"runs"`
	Failed int    `json:"failed_runs"`

	Throughput      float64              `json:"throughput_rps"`
	FloorThroughput float64              `json:"floor_throughput_rps"`
	Ratio           float64              `json:"target_to_floor_throughput"`
	TTFB            loadtest.Percentiles `json:"ttfb"`
	TTLB            loadtest.Percentiles `json:"ttlb"`
	FloorTTLB       loadtest.Percentiles `json:"floor_ttlb"`
	Requests        int                  `json:"requests"`
	Errors          int                  `json:"errors"`
	Incomplete      int                  `json:"incomplete"`
	Status          map[int]int          `json:"status"`

	CheckPages    int              `json:"check_pages"`
	CheckErrors   int              `json:"check_errors"`
	CheckOutcomes map[string]int64 `json:"check_outcomes"`

	C1TTLB *loadtest.Percentiles `json:"c1_ttlb,omitempty"`

	RedisCmdsPerPage float64               `json:"redis_cmds_per_page,omitempty"`
	RedisCmds        map[string]float64    `json:"redis_cmds_by_name_per_page,omitempty"`
	RedisKeys        int                   `json:"redis_keys,omitempty"`
	MGETPage         *loadtest.Percentiles `json:"mget_page,omitempty"`
	MGETLevel2       *loadtest.Percentiles `json:"mget_level2,omitempty"`
	MGETThroughput   float64               `json:"mget_pages_per_s,omitempty"`
	RedisCmdsC1      map[string]float64    `json:"redis_cmds_c1_by_name_per_page,omitempty"`
	MGET1Page        *loadtest.Percentiles `json:"mget_c1_page,omitempty"`

	RSSIdleMiB float64 `json:"rss_idle_mib"`
	RSSPeakMiB float64 `json:"rss_peak_mib"`
	HWMMiB     float64 `json:"hwm_mib"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// medianPercentiles takes the median of each percentile separately.
func medianPercentiles(ps []loadtest.Percentiles) loadtest.Percentiles {
	pick := func(f func(loadtest.Percentiles) time.Duration) time.Duration {
		ds := make([]time.Duration, len(ps))
		for i, p := range ps {
			ds[i] = f(p)
		}
		return medianDur(ds)
	}
	return loadtest.Percentiles{
		P50:  pick(func(p loadtest.Percentiles) time.Duration { return p.P50 }),
		P90:  pick(func(p loadtest.Percentiles) time.Duration { return p.P90 }),
		P99:  pick(func(p loadtest.Percentiles) time.Duration { return p.P99 }),
		Max:  pick(func(p loadtest.Percentiles) time.Duration { return p.Max }),
		Mean: pick(func(p loadtest.Percentiles) time.Duration { return p.Mean }),
	}
}

// medians summarises cells per state × size, in the order of o.
func medians(cells []cell, o *options) []summary {
	var out []summary
	for _, state := range o.states {
		for _, size := range o.sizes {
			s := summary{State: state, Size: size, Status: map[int]int{}, CheckOutcomes: map[string]int64{}}
			var (
				tput, ftput, ratio, cmds, idle, peak, hwm, mtput []float64
				ttfb, ttlb, fttlb, c1, mpage, ml2, m1page        []loadtest.Percentiles
				byCmd                                            = map[string][]float64{}
				byCmdC1                                          = map[string][]float64{}
				c1runs                                           int
			)
			for i := range cells {
				c := &cells[i]
				if c.State != state || c.Size != size {
					continue
				}
				if c.Err != "" || c.Target == nil || c.Floor == nil {
					s.Failed++
					continue
				}
				s.Runs++
				tput = append(tput, c.Target.Throughput)
				ftput = append(ftput, c.Floor.Throughput)
				ratio = append(ratio, c.Ratio)
				ttfb = append(ttfb, c.Target.TTFB)
				ttlb = append(ttlb, c.Target.TTLB)
				fttlb = append(fttlb, c.Floor.TTLB)
				s.Requests += c.Target.Requests
				s.Errors += c.Target.Errors
				s.Incomplete += c.Target.Incomplete
				for code, n := range c.Target.Status {
					s.Status[code] += n
				}
				if c.Check != nil {
					s.CheckPages += c.Check.Requests
					s.CheckErrors += c.Check.Errors
					for k, n := range c.Check.Outcomes {
						s.CheckOutcomes[k] += n
					}
				}
				if c.C1 != nil {
					c1 = append(c1, c.C1.TTLB)
				}
				if c.RedisCmds != nil {
					cmds = append(cmds, c.RedisCmdsPerPage)
					for name, n := range c.RedisCmds {
						byCmd[name] = append(byCmd[name], float64(n)/float64(max(c.Target.Requests, 1)))
					}
					s.RedisKeys = c.RedisKeys
				}
				if c.MGET != nil {
					mpage = append(mpage, c.MGET.Page)
					ml2 = append(ml2, c.MGET.Level2)
					mtput = append(mtput, c.MGET.Throughput)
				}
				if c.MGET1 != nil {
					m1page = append(m1page, c.MGET1.Page)
				}
				if c.C1 != nil && c.RedisCmdsC1 != nil && c.C1.Requests > 0 {
					for name, n := range c.RedisCmdsC1 {
						byCmdC1[name] = append(byCmdC1[name], float64(n)/float64(c.C1.Requests))
					}
					c1runs++
				}
				idle = append(idle, float64(c.RSSIdleKiB)/1024)
				peak = append(peak, float64(c.RSSPeakKiB)/1024)
				hwm = append(hwm, float64(c.HWMKiB)/1024)
			}
			if s.Runs == 0 {
				out = append(out, s)
				continue
			}
			s.Throughput, s.FloorThroughput, s.Ratio = median(tput), median(ftput), median(ratio)
			s.TTFB, s.TTLB, s.FloorTTLB = medianPercentiles(ttfb), medianPercentiles(ttlb), medianPercentiles(fttlb)
			if len(c1) > 0 {
				p := medianPercentiles(c1)
				s.C1TTLB = &p
			}
			if len(cmds) > 0 {
				s.RedisCmdsPerPage = median(cmds)
				s.RedisCmds = map[string]float64{}
				for name, xs := range byCmd {
					// A command absent from some runs counts as 0 there.
					for len(xs) < len(cmds) {
						xs = append(xs, 0)
					}
					s.RedisCmds[name] = median(xs)
				}
			}
			if len(mpage) > 0 {
				p, l2 := medianPercentiles(mpage), medianPercentiles(ml2)
				s.MGETPage, s.MGETLevel2, s.MGETThroughput = &p, &l2, median(mtput)
			}
			if c1runs > 0 {
				s.RedisCmdsC1 = map[string]float64{}
				for name, xs := range byCmdC1 {
					for len(xs) < c1runs {
						xs = append(xs, 0)
					}
					s.RedisCmdsC1[name] = median(xs)
				}
			}
			if len(m1page) > 0 {
				p := medianPercentiles(m1page)
				s.MGET1Page = &p
			}
			s.RSSIdleMiB, s.RSSPeakMiB, s.HWMMiB = median(idle), median(peak), median(hwm)
			out = append(out, s)
		}
	}
	return out
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
		switch state {
		case "redis":
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
		case "cold":
			fmt.Fprintln(w, "| includes | TTLB at concurrency 1 | TTLB at concurrency "+fmt.Sprint(o.concurrency)+" |")
			fmt.Fprintln(w, "|---:|---|---|")
			for _, s := range rows {
				if s.Runs == 0 || s.C1TTLB == nil {
					continue
				}
				fmt.Fprintf(w, "| %d | %s | %s |\n", s.Size, fmtP(*s.C1TTLB), fmtP(s.TTLB))
			}
			fmt.Fprintln(w)
		case "hang", "hangcold":
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
	}
	writeTargets(w, res.Medians, o)
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
	find := func(state string, size int) *summary {
		for i := range ms {
			if ms[i].State == state && ms[i].Size == size && ms[i].Runs > 0 {
				return &ms[i]
			}
		}
		return nil
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	fmt.Fprintln(w, "### Targets (medians above)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | figure | verdict |")
	fmt.Fprintln(w, "|---|---|---|")
	if s := find("l1", 2000); s != nil {
		fmt.Fprintf(w, "| warm L1, 2,000: throughput ≥ 30%% of floor (aim 50%%) | %.0f%% (%.0f / %.0f req/s) | %s |\n",
			100*s.Ratio, s.Throughput, s.FloorThroughput, verdict(s.Ratio >= 0.30))
		fmt.Fprintf(w, "| warm L1, 2,000: p99 < 10 ms | TTLB p99 %s ms | %s |\n", fmtMS(s.TTLB.P99), verdict(s.TTLB.P99 < 10*time.Millisecond))
	}
	if s := find("redis", 2000); s != nil && s.MGETPage != nil {
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
	if s := find("cold", 2000); s != nil {
		c1 := "-"
		ok := s.TTLB.P50 < 30*time.Millisecond
		if s.C1TTLB != nil {
			c1 = fmtMS(s.C1TTLB.P50)
			ok = s.C1TTLB.P50 < 30*time.Millisecond
		}
		fmt.Fprintf(w, "| cold, 2,000 at 5 ms: complete page < 30 ms | TTLB p50 %s ms alone (c=1), %s ms at c=%d; incomplete %d / %d | %s |\n",
			c1, fmtMS(s.TTLB.P50), o.concurrency, s.CheckErrors, s.CheckPages, verdict(ok && s.CheckErrors == 0))
	}
	for _, size := range o.sizes {
		for _, state := range []string{"hang", "hangcold"} {
			s := find(state, size)
			if s == nil {
				continue
			}
			limit := o.budget + 10*time.Millisecond
			fmt.Fprintf(w, "| 1%% hanging (%s), %d: p99 ≤ budget + 10 ms, every page complete | TTLB p99 %s ms (limit %s); errors %d / %d, incomplete %d / %d | %s |\n",
				state, size, fmtMS(s.TTLB.P99), fmtMS(limit), s.Errors, s.Requests, s.CheckErrors, s.CheckPages,
				verdict(s.TTLB.P99 <= limit && s.Errors == 0 && s.CheckErrors == 0))
		}
	}
	for _, state := range o.states {
		if s := find(state, 10000); s != nil {
			fmt.Fprintf(w, "| 10,000 (%s): within budget, memory bounded | TTLB p99 %s ms (budget %s); errors %d, incomplete %d / %d; RSS %.0f MiB idle, %.0f MiB peak at c=%d | %s |\n",
				state, fmtMS(s.TTLB.P99), fmtMS(o.budget), s.Errors, s.CheckErrors, s.CheckPages, s.RSSIdleMiB, s.RSSPeakMiB, o.concurrency,
				verdict(s.TTLB.P99 <= o.budget+10*time.Millisecond && s.Errors == 0 && s.CheckErrors == 0))
		}
	}
	fmt.Fprintln(w)
}
