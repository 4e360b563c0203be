package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/broadsheet/broadsheet/composer"
)

// broadsheet_include_duration_seconds is counted here rather than with a
// prometheus.HistogramVec: a page of thousands of includes adds its batch
// with one atomic add per bucket it touches (a HistogramVec takes several
// atomic operations per observation), and the figures are exported as
// constant histograms at scrape time.

// includeBounds are the histogram's upper bounds; a last, unbounded bucket
// follows them.
var includeBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
}

const nIncludeBuckets = len(includeBounds) + 1

var includeDesc = prometheus.NewDesc("broadsheet_include_duration_seconds",
	"Time from an include's start to its settling, by fragment and outcome.", []string{"fragment", "outcome"}, nil)

// durHist is one fragment × outcome histogram. Its counts are per bucket
// (not cumulative); the sum is in nanoseconds.
type durHist struct {
	counts [nIncludeBuckets]atomic.Uint64
	sumNs  atomic.Int64
}

func includeBucket(d time.Duration) int {
	i := 0
	for i < len(includeBounds) && d > includeBounds[i] {
		i++
	}
	return i
}

// histBatch accumulates a run of one fragment's includes before adding it
// to the fragment's histograms.
type histBatch struct {
	counts [nOutcomes][nIncludeBuckets]uint32
	sumNs  [nOutcomes]int64
	any    [nOutcomes]bool
}

func (b *histBatch) add(o composer.Outcome, d time.Duration, n int) {
	b.counts[o][includeBucket(d)] += uint32(n)
	b.sumNs[o] += int64(d) * int64(n)
	b.any[o] = true
}

func (b *histBatch) addTo(hs *[nOutcomes]durHist) {
	for o := range b.counts {
		if !b.any[o] {
			continue
		}
		h := &hs[o]
		for i, n := range b.counts[o] {
			if n > 0 {
				h.counts[i].Add(uint64(n))
			}
		}
		h.sumNs.Add(b.sumNs[o])
	}
}

// timeoutDesc is the effective timeout of each fragment that has includes,
// beside its histograms, so that an alert can compare the two.
var timeoutDesc = prometheus.NewDesc("broadsheet_fragment_timeout_seconds",
	"The timeout in force of each fragment that has had includes (site.yaml and live overrides applied).", []string{"fragment"}, nil)

// includeCollector exports the histograms of the fragment × outcome pairs
// that have occurred, and the timeout of each fragment that has had
// includes. Pairs that never occurred are not exported: a site of a
// thousand fragment kinds, most of them idle on an instance, would
// otherwise export seven histograms of fifteen series for each.
type includeCollector struct{ o *Observer }

func (c *includeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- includeDesc
	ch <- timeoutDesc
}

func (c *includeCollector) Collect(ch chan<- prometheus.Metric) {
	frags := *c.o.frags.Load()
	site := c.o.site.Load()
	emit := func(f *fragment) {
		any := false
		for i, oc := range composer.Outcomes() {
			h := &f.byOutcome[i]
			// The sum is read first: a concurrent add makes it at most
			// slightly behind the counts, never ahead.
			sum := time.Duration(h.sumNs.Load()).Seconds()
			var counts [nIncludeBuckets]uint64
			var n uint64
			for j := range counts {
				counts[j] = h.counts[j].Load()
				n += counts[j]
			}
			if n == 0 {
				continue
			}
			any = true
			buckets := make(map[float64]uint64, len(includeBounds))
			var cum uint64
			for j, b := range includeBounds {
				cum += counts[j]
				buckets[b.Seconds()] = cum
			}
			ch <- prometheus.MustNewConstHistogram(includeDesc, n, sum, buckets, f.name, oc.String())
		}
		if !any || site == nil {
			return
		}
		if sf := site.Fragments[f.name]; sf != nil {
			ch <- prometheus.MustNewConstMetric(timeoutDesc, prometheus.GaugeValue, sf.Settings.Timeout.Seconds(), f.name)
		}
	}
	for _, f := range frags {
		emit(f)
	}
	if frags[Other] == nil {
		emit(c.o.other)
	}
}
