// The medians over runs of each state × size of the scores matrix.

package main

import (
	"slices"
	"sort"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

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
			out = append(out, summarise(cells, state, size))
		}
	}
	return out
}

// summarise is the summary of the cells of state × size: the counts of
// the runs that succeeded summed, their figures' medians.
func summarise(cells []cell, state string, size int) summary {
	s := summary{State: state, Size: size, Status: map[int]int{}, CheckOutcomes: map[string]int64{}}
	smp := samples{byCmd: map[string][]float64{}, byCmdC1: map[string][]float64{}}
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
		s.count(c)
		smp.add(c)
	}
	if s.Runs > 0 {
		smp.medians(&s)
	}
	return s
}

// count adds the counts of c, a cell that succeeded, to s.
func (s *summary) count(c *cell) {
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
	if c.RedisCmds != nil {
		s.RedisKeys = c.RedisKeys
	}
}

// samples are the figures of one state × size's successful cells, one
// value a run, of which a summary takes the medians.
type samples struct {
	tput, ftput, ratio, cmds, idle, peak, hwm, mtput []float64
	ttfb, ttlb, fttlb, c1, mpage, ml2, m1page        []loadtest.Percentiles
	// byCmd and byCmdC1 are the commands per page by name, of the target
	// and of the C1 run; c1runs counts the C1 runs with Redis commands.
	byCmd, byCmdC1 map[string][]float64
	c1runs         int
}

// add appends the figures of c, a cell that succeeded.
func (m *samples) add(c *cell) {
	m.tput = append(m.tput, c.Target.Throughput)
	m.ftput = append(m.ftput, c.Floor.Throughput)
	m.ratio = append(m.ratio, c.Ratio)
	m.ttfb = append(m.ttfb, c.Target.TTFB)
	m.ttlb = append(m.ttlb, c.Target.TTLB)
	m.fttlb = append(m.fttlb, c.Floor.TTLB)
	if c.C1 != nil {
		m.c1 = append(m.c1, c.C1.TTLB)
	}
	if c.RedisCmds != nil {
		m.cmds = append(m.cmds, c.RedisCmdsPerPage)
		for name, n := range c.RedisCmds {
			m.byCmd[name] = append(m.byCmd[name], float64(n)/float64(max(c.Target.Requests, 1)))
		}
	}
	if c.MGET != nil {
		m.mpage = append(m.mpage, c.MGET.Page)
		m.ml2 = append(m.ml2, c.MGET.Level2)
		m.mtput = append(m.mtput, c.MGET.Throughput)
	}
	if c.MGET1 != nil {
		m.m1page = append(m.m1page, c.MGET1.Page)
	}
	if c.C1 != nil && c.RedisCmdsC1 != nil && c.C1.Requests > 0 {
		for name, n := range c.RedisCmdsC1 {
			m.byCmdC1[name] = append(m.byCmdC1[name], float64(n)/float64(c.C1.Requests))
		}
		m.c1runs++
	}
	m.idle = append(m.idle, float64(c.RSSIdleKiB)/1024)
	m.peak = append(m.peak, float64(c.RSSPeakKiB)/1024)
	m.hwm = append(m.hwm, float64(c.HWMKiB)/1024)
}

// medians sets s's figures to the medians of m, which holds at least one
// run.
func (m *samples) medians(s *summary) {
	s.Throughput, s.FloorThroughput, s.Ratio = median(m.tput), median(m.ftput), median(m.ratio)
	s.TTFB, s.TTLB, s.FloorTTLB = medianPercentiles(m.ttfb), medianPercentiles(m.ttlb), medianPercentiles(m.fttlb)
	if len(m.c1) > 0 {
		p := medianPercentiles(m.c1)
		s.C1TTLB = &p
	}
	if len(m.cmds) > 0 {
		s.RedisCmdsPerPage = median(m.cmds)
		s.RedisCmds = mediansPadded(m.byCmd, len(m.cmds))
	}
	if len(m.mpage) > 0 {
		p, l2 := medianPercentiles(m.mpage), medianPercentiles(m.ml2)
		s.MGETPage, s.MGETLevel2, s.MGETThroughput = &p, &l2, median(m.mtput)
	}
	if m.c1runs > 0 {
		s.RedisCmdsC1 = mediansPadded(m.byCmdC1, m.c1runs)
	}
	if len(m.m1page) > 0 {
		p := medianPercentiles(m.m1page)
		s.MGET1Page = &p
	}
	s.RSSIdleMiB, s.RSSPeakMiB, s.HWMMiB = median(m.idle), median(m.peak), median(m.hwm)
}

// mediansPadded is the median of each name's values over runs runs: a
// name absent from some runs counts as 0 there.
func mediansPadded(byName map[string][]float64, runs int) map[string]float64 {
	out := map[string]float64{}
	for name, xs := range byName {
		for len(xs) < runs {
			xs = append(xs, 0)
		}
		out[name] = median(xs)
	}
	return out
}
