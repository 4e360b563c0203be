package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
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
