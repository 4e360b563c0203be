// Recording: each request's result, gathered per worker into histograms
// and counts, merged into a Report at the end of a run.

package loadtest

import (
	"net/http"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in microseconds from 1µs to 10
// minutes with three significant digits. Longer values are clamped.
const (
	histMin     = 1
	histMax     = int64(10 * time.Minute / time.Microsecond)
	histDigits  = 3
	maxErrorMsg = 10 // distinct transport error messages kept as samples
)

// PageResult is one recorded request, kept with Config.KeepPages.
type PageResult struct {
	// Start is when the request was sent.
	Start time.Time
	// TTFB is the time to the first byte of the response (0 without one);
	// TTLB the time to its last byte, or until the request failed.
	TTFB, TTLB time.Duration
	// Status is the response's status code, 0 without a response.
	Status int
	// Err is the transport error, if the request failed.
	Err error
	// Complete reports a 2xx response that ends with </html> and holds at
	// least Config.ExpectIncludes data-fragment=" markers, or a 304 to a
	// conditional request.
	Complete bool
	// Bytes is the body's length as read; Fragments its data-fragment="
	// markers.
	Bytes, Fragments int64
	// Markers counts the occurrences of each of Config.Markers in the
	// body, in the order of Config.Markers.
	Markers []int64
}

// End is when the request ended: its last byte read, or its failure.
func (p *PageResult) End() time.Time { return p.Start.Add(p.TTLB) }

// result is the outcome of one request.
type result struct {
	start      time.Time
	status     int
	err        error
	ttfb, ttlb time.Duration
	scan       pageScan
}

// recorder accumulates results. It is not safe for concurrent use: each
// closed-loop worker owns one, and they are merged at the end.
type recorder struct {
	expectIncludes int64
	markerNames    []string
	keepPages      bool
	conditional    bool // a 304 is complete (Config.Header)

	requests, transportErrors, non2xx, incomplete int
	status                                        map[int]int
	errorSamples                                  map[string]int
	outcomes                                      [numOutcomes]int64
	markers                                       []int64
	fragments, bytes                              int64
	ttfb, ttlb                                    *hdrhistogram.Histogram
	pages                                         []PageResult
}

func newRecorder(cfg *Config) *recorder {
	return &recorder{
		expectIncludes: int64(cfg.ExpectIncludes),
		markerNames:    cfg.Markers,
		conditional:    cfg.conditional(),
		keepPages:      cfg.KeepPages,
		status:         make(map[int]int),
		errorSamples:   make(map[string]int),
		markers:        make([]int64, len(cfg.Markers)),
		ttfb:           hdrhistogram.New(histMin, histMax, histDigits),
		ttlb:           hdrhistogram.New(histMin, histMax, histDigits),
	}
}

func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	_ = h.RecordValue(us) // cannot fail: us is within the histogram's range
}

func (rec *recorder) add(res *result) {
	rec.requests++
	rec.bytes += res.scan.Bytes
	rec.fragments += res.scan.Fragments
	for i, n := range res.scan.Outcomes {
		rec.outcomes[i] += n
	}
	for i, n := range res.scan.Markers {
		rec.markers[i] += n
	}
	if res.status != 0 {
		rec.status[res.status]++
	}
	complete := false
	switch {
	case res.err != nil:
		rec.transportErrors++
		msg := res.err.Error()
		if _, ok := rec.errorSamples[msg]; ok || len(rec.errorSamples) < maxErrorMsg {
			rec.errorSamples[msg]++
		}
	case res.status == http.StatusNotModified && rec.conditional:
		complete = true
	case res.status < 200 || res.status > 299:
		rec.non2xx++
	case !res.scan.EndsHTML || res.scan.Fragments < rec.expectIncludes:
		rec.incomplete++
	default:
		complete = true
	}
	if rec.keepPages {
		p := PageResult{Start: res.start, TTLB: res.ttlb, Status: res.status, Err: res.err, Complete: complete,
			Bytes: res.scan.Bytes, Fragments: res.scan.Fragments, Markers: res.scan.Markers}
		if res.err == nil {
			p.TTFB = res.ttfb
		}
		if p.Markers == nil && len(rec.markers) > 0 {
			p.Markers = make([]int64, len(rec.markers))
		}
		rec.pages = append(rec.pages, p)
	}
	if res.err != nil {
		return
	}
	recordLatency(rec.ttfb, res.ttfb)
	recordLatency(rec.ttlb, res.ttlb)
}

func (rec *recorder) merge(o *recorder) {
	rec.requests += o.requests
	rec.transportErrors += o.transportErrors
	rec.non2xx += o.non2xx
	rec.incomplete += o.incomplete
	rec.fragments += o.fragments
	rec.bytes += o.bytes
	for i, n := range o.outcomes {
		rec.outcomes[i] += n
	}
	for i, n := range o.markers {
		rec.markers[i] += n
	}
	rec.pages = append(rec.pages, o.pages...)
	for code, n := range o.status {
		rec.status[code] += n
	}
	for msg, n := range o.errorSamples {
		if _, ok := rec.errorSamples[msg]; ok || len(rec.errorSamples) < maxErrorMsg {
			rec.errorSamples[msg] += n
		}
	}
	rec.ttfb.Merge(o.ttfb)
	rec.ttlb.Merge(o.ttlb)
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Percentiles{
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P99:  us(h.ValueAtQuantile(99)),
		Max:  us(h.Max()),
		Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
	}
}

// report turns the accumulated results into a Report.
func (rec *recorder) report(cfg *Config, mode string, elapsed time.Duration) *Report {
	r := &Report{
		URLs:            slices.Clone(cfg.URLs),
		Mode:            mode,
		Concurrency:     cfg.Concurrency,
		Rate:            cfg.Rate,
		Warmup:          cfg.Warmup,
		Requests:        rec.requests,
		TransportErrors: rec.transportErrors,
		Non2xx:          rec.non2xx,
		Incomplete:      rec.incomplete,
		Errors:          rec.transportErrors + rec.non2xx + rec.incomplete,
		Status:          rec.status,
		ErrorSamples:    rec.errorSamples,
		Outcomes:        make(map[string]int64, numOutcomes),
		Fragments:       rec.fragments,
		Bytes:           rec.bytes,
		Elapsed:         max(elapsed, 0),
		TTFB:            percentiles(rec.ttfb),
		TTLB:            percentiles(rec.ttlb),
	}
	for i, name := range outcomeNames {
		if i != outcomeOther || rec.outcomes[i] != 0 {
			r.Outcomes[name] = rec.outcomes[i]
		}
	}
	if len(rec.markerNames) > 0 {
		r.Markers = make(map[string]int64, len(rec.markerNames))
		for i, m := range rec.markerNames {
			r.Markers[m] += rec.markers[i]
		}
	}
	if rec.keepPages {
		r.Pages = rec.pages
		slices.SortStableFunc(r.Pages, func(a, b PageResult) int { return a.Start.Compare(b.Start) })
	}
	if secs := r.Elapsed.Seconds(); secs > 0 {
		r.Throughput = float64(r.Requests) / secs
		r.BytesPerSecond = float64(r.Bytes) / secs
	}
	return r
}
