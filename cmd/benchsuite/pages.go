package main

import (
	"slices"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

// countStats are the smallest, median and largest of a count per page.
type countStats struct {
	Min    int64 `json:"min"`
	Median int64 `json:"median"`
	Max    int64 `json:"max"`
}

// pageFigures summarise the pages of a window of a run (see summarize).
type pageFigures struct {
	// Pages counts the pages sent in the window; OK those answered 2xx
	// and complete (ending in </html>); Transport those that got no
	// complete response.
	Pages     int         `json:"pages"`
	OK        int         `json:"ok"`
	Transport int         `json:"transport_errors"`
	Status    map[int]int `json:"status"`
	// PerSecond is the pages sent in the window per second of it.
	PerSecond float64 `json:"pages_per_s"`
	// TTLB are the latencies of the pages that got a response.
	TTLB loadtest.Percentiles `json:"ttlb"`
	// Present is the fragments present per OK page, Missing the
	// fragments missing per OK page (see presence); a page that is not OK
	// holds none.
	Present countStats `json:"present"`
	Missing countStats `json:"missing"`
	// Full counts the OK pages holding at least the wanted fragments.
	Full int `json:"full_pages"`
	// Want is that number.
	Want int64 `json:"want"`
	// Mentions totals, over the window's pages, the markers counted for
	// information (such as breaker_open), by marker.
	Mentions map[string]int64 `json:"mentions,omitempty"`
}

// presence says how to read a page's markers: the sum of the markers at
// present is the fragments it holds, at missing those it lacks; info are
// markers totalled as they are.
type presence struct {
	markers []string
	present []int
	missing []int
	info    []int
}

// newPresence indexes markers: present and missing name markers whose
// counts add up to the fragments present and missing; info the others to
// total.
func newPresence(present, missing, info []string) presence {
	p := presence{}
	add := func(ms []string, idx *[]int) {
		for _, m := range ms {
			*idx = append(*idx, len(p.markers))
			p.markers = append(p.markers, m)
		}
	}
	add(present, &p.present)
	add(missing, &p.missing)
	add(info, &p.info)
	return p
}

func (p presence) sum(pg *loadtest.PageResult, idx []int) int64 {
	var n int64
	for _, i := range idx {
		if i < len(pg.Markers) {
			n += pg.Markers[i]
		}
	}
	return n
}

// summarize summarises the pages sent in [from, to) (a zero to: no end),
// over a window of window (for PerSecond; zero: from the first page sent
// to the last page's end); want is the fragments a full page holds.
func summarize(pages []loadtest.PageResult, pr presence, from, to time.Time, window time.Duration, want int64) pageFigures {
	f := pageFigures{Status: map[int]int{}, Want: want}
	var (
		lat              []time.Duration
		present, missing []int64
		first, last      time.Time
	)
	for i := range pages {
		pg := &pages[i]
		if pg.Start.Before(from) || (!to.IsZero() && !pg.Start.Before(to)) {
			continue
		}
		f.Pages++
		if first.IsZero() || pg.Start.Before(first) {
			first = pg.Start
		}
		if pg.End().After(last) {
			last = pg.End()
		}
		if pg.Status != 0 {
			f.Status[pg.Status]++
		}
		if pg.Err != nil {
			f.Transport++
			continue
		}
		lat = append(lat, pg.TTLB)
		for _, i := range pr.info {
			if f.Mentions == nil {
				f.Mentions = map[string]int64{}
			}
			f.Mentions[pr.markers[i]] += pr.sum(pg, []int{i})
		}
		ok := pg.Status >= 200 && pg.Status <= 299 && pg.Complete
		var np, nm int64
		if ok {
			f.OK++
			np, nm = pr.sum(pg, pr.present), pr.sum(pg, pr.missing)
			if np >= want {
				f.Full++
			}
		}
		present = append(present, np)
		missing = append(missing, nm)
	}
	if window <= 0 && !first.IsZero() {
		window = last.Sub(first)
	}
	if window > 0 {
		f.PerSecond = float64(f.Pages) / window.Seconds()
	}
	f.TTLB = percentilesOf(lat)
	f.Present, f.Missing = countsOf(present), countsOf(missing)
	return f
}

// percentilesOf returns the nearest-rank percentiles of ds.
func percentilesOf(ds []time.Duration) loadtest.Percentiles {
	if len(ds) == 0 {
		return loadtest.Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return loadtest.Percentiles{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1], Mean: sum / time.Duration(len(s))}
}

// countsOf returns the smallest, median (the lower one of an even count)
// and largest of xs.
func countsOf(xs []int64) countStats {
	if len(xs) == 0 {
		return countStats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return countStats{Min: s[0], Median: s[(len(s)-1)/2], Max: s[len(s)-1]}
}

// firstEnd returns how long after t the first page sent at or after from
// for which ok holds ended, and whether there is one. Pages are in the
// order they were sent.
func firstEnd(pages []loadtest.PageResult, from, t time.Time, ok func(*loadtest.PageResult) bool) (time.Duration, bool) {
	best, found := time.Time{}, false
	for i := range pages {
		pg := &pages[i]
		if pg.Start.Before(from) || pg.Err != nil || !ok(pg) {
			continue
		}
		if !found || pg.End().Before(best) {
			best, found = pg.End(), true
		}
	}
	if !found {
		return 0, false
	}
	return best.Sub(t), true
}
