package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

// notModifiedSize is the size of the scores page of the scores-304
// workload.
const notModifiedSize = 2000

// notModifiedTarget is the target: a conditional request answered
// 304 goes at least this many times the full page's rate.
const notModifiedTarget = 2.0

// notModifiedResult is the scores-304 workload of one run: the scores page
// of 2,000 includes, warm in L1 (the l1 state's composer), driven at -c for
// -duration twice, as a full 200 and as a conditional GET carrying the
// page's ETag in If-None-Match (answered 304, without a body); the order
// alternates from run to run.
type notModifiedResult struct {
	Run int    `json:"run"`
	Err string `json:"error,omitempty"`
	// ETag is the page's, sent in If-None-Match.
	ETag        string           `json:"etag"`
	Full        *loadtest.Report `json:"full"`
	Conditional *loadtest.Report `json:"conditional"`
	// Ratio is Conditional.Throughput over Full.Throughput.
	Ratio float64 `json:"throughput_ratio"`
	// Counted is broadsheet_page_duration_seconds_count by status, summed
	// over pages, as the composer's /metrics gave it after both loads
	// (warm-ups included).
	Counted map[string]float64 `json:"counted_by_status"`
}

func (s *suite) notModified(ctx context.Context, run int) (r notModifiedResult) {
	r.Run = run + 1
	fail := func(err error) notModifiedResult {
		r.Err = err.Error()
		return r
	}
	cp, base, cfg, err := s.warmScores(ctx, fmt.Sprintf("scores-304-run%d", run+1), notModifiedSize)
	if err != nil {
		return fail(err)
	}
	defer cp.Stop()
	if r.ETag, err = pageETag(ctx, cfg.URLs[0]); err != nil {
		return fail(err)
	}
	full, cond := cfg, cfg
	full.Duration, full.Warmup = s.o.duration, loadWarmup
	cond.Duration, cond.Warmup = s.o.duration, loadWarmup
	cond.Header = http.Header{"If-None-Match": {r.ETag}}
	order := []struct {
		cfg *loadtest.Config
		rep **loadtest.Report
	}{{&full, &r.Full}, {&cond, &r.Conditional}}
	for k := range order {
		o := order[(k+run)%len(order)]
		if *o.rep, err = loadtest.Run(ctx, *o.cfg); err != nil {
			return fail(err)
		}
	}
	if r.Full.Status[http.StatusOK] != r.Full.Requests || r.Conditional.Status[http.StatusNotModified] != r.Conditional.Requests {
		return fail(fmt.Errorf("scores-304: full page statuses %v, conditional %v: want all 200 and all 304", r.Full.Status, r.Conditional.Status))
	}
	if r.Full.Throughput > 0 {
		r.Ratio = r.Conditional.Throughput / r.Full.Throughput
	}
	if r.Counted, err = pageCounts(ctx, base+"/metrics"); err != nil {
		return fail(err)
	}
	return r
}

// loadWarmup is the unrecorded start of each measured load of a workload
// that has been warmed already.
const loadWarmup = 300 * time.Millisecond

// pageETag fetches url and returns its ETag; a page without one (something
// in it was not cached) is an error.
func pageETag(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := loadtest.NewClient(0).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" {
		return "", fmt.Errorf("%s: status %s, ETag %q (Cache-Control %q)", url, resp.Status, etag, resp.Header.Get("Cache-Control"))
	}
	return etag, nil
}

// pageCountLine matches a page's request count, by status, in /metrics.
var pageCountLine = regexp.MustCompile(`(?m)^broadsheet_page_duration_seconds_count\{page="[^"]*",status="(\d+)"\} (\S+)$`)

// pageCounts returns the pages counted by the composer at url (/metrics),
// by status, summed over pages.
func pageCounts(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := loadtest.NewClient(0).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %s", url, resp.Status)
	}
	out := map[string]float64{}
	for _, m := range pageCountLine.FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", url, m[0], err)
		}
		out[m[1]] += v
	}
	return out, nil
}

// writeNotModifiedMarkdown writes the scores-304 table, per run, and the
// workload's target on the median of the runs.
func writeNotModifiedMarkdown(w io.Writer, res []notModifiedResult, o *options) {
	fmt.Fprintf(w, "### scores-304: the warm scores page of %d includes, full (200) and conditional (If-None-Match, 304), c=%d for %s each\n\n", notModifiedSize, o.concurrency, o.duration)
	fmt.Fprintln(w, "| run | request | req/s | ratio to the full page | TTLB p50 / p90 / p99 / max | status | errors / requests | counted by the composer (all pages, warm-ups included) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---|---|---:|---|")
	var ratios []float64
	for _, r := range res {
		if r.Err != "" {
			fmt.Fprintf(w, "| %d | error: %s | | | | | | |\n", r.Run, r.Err)
			continue
		}
		ratios = append(ratios, r.Ratio)
		counted := fmtCounted(r.Counted)
		for _, row := range []struct {
			name  string
			rep   *loadtest.Report
			ratio float64
		}{{"full", r.Full, 1}, {"If-None-Match " + r.ETag, r.Conditional, r.Ratio}} {
			fmt.Fprintf(w, "| %d | %s | %.0f | %.2f | %s | %s | %d / %d | %s |\n", r.Run, row.name, row.rep.Throughput, row.ratio,
				fmtP(row.rep.TTLB), fmtStatus(row.rep.Status), row.rep.Errors, row.rep.Requests, counted)
		}
	}
	fmt.Fprintln(w)
	if len(ratios) > 0 {
		v := "**not met**"
		if median(ratios) >= notModifiedTarget {
			v = "met"
		}
		fmt.Fprintf(w, "Target: a 304 at ≥ %.0f× the full page's throughput: ratio %.2f (median of %d runs), %s.\n\n", notModifiedTarget, median(ratios), len(ratios), v)
	}
}

// fmtCounted formats counts by status as fmtStatus does.
func fmtCounted(c map[string]float64) string {
	st := map[int]int{}
	for k, v := range c {
		n, _ := strconv.Atoi(k)
		st[n] = int(v)
	}
	return fmtStatus(st)
}
