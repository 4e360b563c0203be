package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
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

// Percentiles summarises a latency distribution.
type Percentiles struct {
	P50, P90, P99, Max, Mean time.Duration
}

// percentilesJSON is the JSON form of Percentiles, in milliseconds.
type percentilesJSON struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// MarshalJSON writes the percentiles as milliseconds.
func (p Percentiles) MarshalJSON() ([]byte, error) {
	return json.Marshal(percentilesJSON{Millis(p.P50), Millis(p.P90), Millis(p.P99), Millis(p.Max), Millis(p.Mean)})
}

// UnmarshalJSON reads what MarshalJSON writes (to the microsecond).
func (p *Percentiles) UnmarshalJSON(b []byte) error {
	var j percentilesJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("loadtest: percentiles: %w", err)
	}
	*p = Percentiles{fromMS(j.P50), fromMS(j.P90), fromMS(j.P99), fromMS(j.Max), fromMS(j.Mean)}
	return nil
}

// Millis returns d in milliseconds to the microsecond, as every report
// (this package's, the bench suite's, the chaos runs') writes its figures.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fromMS is the duration of x milliseconds, rounded to the nanosecond.
func fromMS(x float64) time.Duration { return time.Duration(math.Round(x * float64(time.Millisecond))) }

// Report holds the figures of one run. Only requests started after the
// warm-up and completed before the run stopped are counted; requests
// cancelled by the caller's context are not counted at all.
type Report struct {
	// URLs are the targets, in round-robin order.
	URLs []string
	// Mode is "closed" (fixed concurrency) or "rate" (fixed arrival rate).
	Mode string
	// Concurrency is the number of closed-loop workers, or the initial
	// number of vegeta workers in rate mode.
	Concurrency int
	// Rate is the requested arrival rate in requests per second (rate mode).
	Rate int
	// Warmup is the unrecorded warm-up period that preceded the measurement.
	Warmup time.Duration

	// Requests is the number of recorded requests, failed ones included.
	Requests int
	// Errors counts requests that failed in any way: TransportErrors +
	// Non2xx + Incomplete. Each request is counted at most once.
	Errors int
	// TransportErrors counts requests that got no complete response:
	// connection errors, timeouts, and errors while reading the body.
	TransportErrors int
	// Non2xx counts responses whose status was not 2xx, but for a 304 to
	// a conditional request (Config.Header).
	Non2xx int
	// Incomplete counts 2xx responses that did not end with </html> or had
	// fewer than ExpectIncludes fragment markers.
	Incomplete int
	// Status counts responses by status code.
	Status map[int]int
	// ErrorSamples counts up to ten distinct transport error messages.
	ErrorSamples map[string]int

	// Outcomes totals the data-outcome="X" values over all responses, by X
	// (hit, stale, miss, timeout, error, fallback, placeholder, other).
	Outcomes map[string]int64
	// Fragments totals the data-fragment=" markers over all responses.
	Fragments int64
	// Markers totals the occurrences of each of Config.Markers over all
	// responses, by marker.
	Markers map[string]int64
	// Bytes is the total number of body bytes read.
	Bytes int64
	// Pages holds every recorded request in the order they were sent, with
	// Config.KeepPages (nil otherwise). It is not part of the JSON form.
	Pages []PageResult

	// Elapsed is the measured wall time, from the end of the warm-up until
	// the last recorded response was read.
	Elapsed time.Duration
	// Throughput is Requests per second of Elapsed.
	Throughput float64
	// BytesPerSecond is Bytes per second of Elapsed.
	BytesPerSecond float64
	// TTFB and TTLB are the latencies to the first and the last byte of the
	// response, over all requests that got a response (any status).
	TTFB, TTLB Percentiles
}

// reportJSON is the JSON form of a Report: snake_case keys, durations in
// milliseconds and seconds, status codes as strings.
type reportJSON struct {
	URLs            []string         `json:"urls"`
	Mode            string           `json:"mode"`
	Concurrency     int              `json:"concurrency"`
	Rate            int              `json:"rate,omitempty"`
	WarmupSeconds   float64          `json:"warmup_s"`
	Requests        int              `json:"requests"`
	Errors          int              `json:"errors"`
	TransportErrors int              `json:"transport_errors"`
	Non2xx          int              `json:"non_2xx"`
	Incomplete      int              `json:"incomplete"`
	Status          map[string]int   `json:"status"`
	ErrorSamples    map[string]int   `json:"error_samples,omitempty"`
	Outcomes        map[string]int64 `json:"outcomes"`
	Fragments       int64            `json:"fragments"`
	Markers         map[string]int64 `json:"markers,omitempty"`
	Bytes           int64            `json:"bytes"`
	ElapsedSeconds  float64          `json:"elapsed_s"`
	Throughput      float64          `json:"throughput_rps"`
	BytesPerSecond  float64          `json:"bytes_per_s"`
	TTFB            Percentiles      `json:"ttfb"`
	TTLB            Percentiles      `json:"ttlb"`
}

// MarshalJSON writes the report with snake_case keys, durations in
// milliseconds and seconds.
func (r *Report) MarshalJSON() ([]byte, error) {
	status := make(map[string]int, len(r.Status))
	for code, n := range r.Status {
		status[fmt.Sprint(code)] = n
	}
	return json.Marshal(reportJSON{
		r.URLs, r.Mode, r.Concurrency, r.Rate, r.Warmup.Seconds(),
		r.Requests, r.Errors, r.TransportErrors, r.Non2xx, r.Incomplete,
		status, r.ErrorSamples, r.Outcomes, r.Fragments, r.Markers, r.Bytes,
		r.Elapsed.Seconds(), r.Throughput, r.BytesPerSecond, r.TTFB, r.TTLB,
	})
}

// UnmarshalJSON reads what MarshalJSON writes (Pages, which it leaves
// out, stay nil), so that a results file can be reported again.
func (r *Report) UnmarshalJSON(b []byte) error {
	var j reportJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("loadtest: report: %w", err)
	}
	status := make(map[int]int, len(j.Status))
	for code, n := range j.Status {
		c, err := strconv.Atoi(code)
		if err != nil {
			return fmt.Errorf("loadtest: report: status code %q: %w", code, err)
		}
		status[c] = n
	}
	*r = Report{
		URLs: j.URLs, Mode: j.Mode, Concurrency: j.Concurrency, Rate: j.Rate,
		Warmup:   time.Duration(math.Round(j.WarmupSeconds * float64(time.Second))),
		Requests: j.Requests, Errors: j.Errors, TransportErrors: j.TransportErrors, Non2xx: j.Non2xx,
		Incomplete: j.Incomplete, Status: status, ErrorSamples: j.ErrorSamples, Outcomes: j.Outcomes,
		Fragments: j.Fragments, Markers: j.Markers, Bytes: j.Bytes,
		Elapsed:    time.Duration(math.Round(j.ElapsedSeconds * float64(time.Second))),
		Throughput: j.Throughput, BytesPerSecond: j.BytesPerSecond, TTFB: j.TTFB, TTLB: j.TTLB,
	}
	return nil
}

// WriteText writes the report as an aligned, human-readable table.
func (r *Report) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, u := range r.URLs {
		label := ""
		if i == 0 {
			label = "target"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, u)
	}
	switch r.Mode {
	case "rate":
		fmt.Fprintf(tw, "mode\tfixed rate, %d req/s (open loop)\n", r.Rate)
	default:
		fmt.Fprintf(tw, "mode\tfixed concurrency, %d workers (closed loop)\n", r.Concurrency)
	}
	elapsed := r.Elapsed.Round(time.Millisecond).String()
	if r.Warmup > 0 {
		elapsed += fmt.Sprintf(" (after %s warm-up, not recorded)", r.Warmup)
	}
	fmt.Fprintf(tw, "elapsed\t%s\n", elapsed)
	fmt.Fprintf(tw, "requests\t%d\n", r.Requests)
	fmt.Fprintf(tw, "throughput\t%.1f req/s\n", r.Throughput)
	fmt.Fprintf(tw, "bytes\t%s (%s/s)\n", formatBytes(float64(r.Bytes)), formatBytes(r.BytesPerSecond))
	fmt.Fprintf(tw, "errors\t%d (transport %d, non-2xx %d, incomplete %d)\n",
		r.Errors, r.TransportErrors, r.Non2xx, r.Incomplete)
	fmt.Fprintf(tw, "status\t%s\n", formatStatus(r.Status))
	for _, msg := range slices.Sorted(maps.Keys(r.ErrorSamples)) {
		fmt.Fprintf(tw, "\t%d × %s\n", r.ErrorSamples[msg], msg)
	}
	fmt.Fprintf(tw, "fragments\t%d (%.1f per response)\n", r.Fragments, perResponse(r.Fragments, r.Requests))
	fmt.Fprintf(tw, "outcomes\t%s\n", formatOutcomes(r.Outcomes))
	for _, m := range slices.Sorted(maps.Keys(r.Markers)) {
		fmt.Fprintf(tw, "marker\t%d × %q (%.1f per response)\n", r.Markers[m], m, perResponse(r.Markers[m], r.Requests))
	}
	fmt.Fprintf(tw, "latency\tp50\tp90\tp99\tmax\tmean\n")
	for _, row := range []struct {
		name string
		p    Percentiles
	}{{"TTFB", r.TTFB}, {"TTLB", r.TTLB}} {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", row.name,
			formatLatency(row.p.P50), formatLatency(row.p.P90), formatLatency(row.p.P99),
			formatLatency(row.p.Max), formatLatency(row.p.Mean))
	}
	tw.Flush()
}

func perResponse(n int64, requests int) float64 {
	if requests == 0 {
		return 0
	}
	return float64(n) / float64(requests)
}

func formatStatus(status map[int]int) string {
	if len(status) == 0 {
		return "-"
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(status)) {
		parts = append(parts, fmt.Sprintf("%d×%d", code, status[code]))
	}
	return strings.Join(parts, "  ")
}

func formatOutcomes(outcomes map[string]int64) string {
	var parts []string
	for _, name := range outcomeNames {
		if n, ok := outcomes[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", name, n))
		}
	}
	return strings.Join(parts, "  ")
}

func formatLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", Millis(d))
	default:
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
}

func formatBytes(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	suffixes := []string{"KiB", "MiB", "GiB", "TiB"}
	i := -1
	for b >= unit && i < len(suffixes)-1 {
		b /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", b, suffixes[i])
}

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
