package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/broadsheet/broadsheet/composer/compress"
	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// encodedSize is the size of the scores page of the scores-encoded workload.
const encodedSize = 2000

// encodedCodings are the Accept-Encoding values the workload sends, the
// first (none) being the page uncompressed.
var encodedCodings = []string{"", "gzip", "zstd", "br"}

// encodedResult is the scores-encoded workload of one run: the scores page
// of 2,000 includes, warm in L1 (the l1 state's composer), driven at -c for
// -duration once per Accept-Encoding value (none, gzip, zstd, br; the order
// rotates from run to run), bodies counted as sent, not decoded.
type encodedResult struct {
	Run int    `json:"run"`
	Err string `json:"error,omitempty"`
	// Gzip6 is the size of the uncompressed page through `gzip -6`.
	Gzip6 int `json:"gzip6_bytes"`
	// Load is /proc/loadavg's 1-minute figure before and after the run.
	LoadBefore float64         `json:"load_before"`
	LoadAfter  float64         `json:"load_after"`
	Codings    []encodedCoding `json:"codings"`
}

type encodedCoding struct {
	AcceptEncoding string           `json:"accept_encoding"`
	Report         *loadtest.Report `json:"report"`
	// Bytes is one page's body as sent; Decodes reports whether it decodes
	// to the uncompressed page, byte for byte.
	Bytes   int  `json:"bytes"`
	Decodes bool `json:"decodes"`
	// Ratio is Report.Throughput over the uncompressed page's.
	Ratio float64 `json:"throughput_ratio"`
}

func (s *suite) encoded(ctx context.Context, run int) (r encodedResult) {
	r.Run = run + 1
	r.LoadBefore = loadAvg()
	defer func() { r.LoadAfter = loadAvg() }()
	fail := func(err error) encodedResult {
		r.Err = err.Error()
		return r
	}
	cp, _, cfg, err := s.warmScores(ctx, fmt.Sprintf("scores-encoded-run%d", run+1), encodedSize)
	if err != nil {
		return fail(err)
	}
	defer cp.Stop()
	url := cfg.URLs[0]
	plain, _, err := fetchCoded(ctx, url, "")
	if err != nil {
		return fail(err)
	}
	if r.Gzip6, err = gzip6(ctx, plain); err != nil {
		return fail(err)
	}
	r.Codings = make([]encodedCoding, len(encodedCodings))
	for i, ae := range encodedCodings {
		c := &r.Codings[i]
		c.AcceptEncoding = ae
		sent, decoded, err := fetchCoded(ctx, url, ae) // also makes the page's form in ae
		if err != nil {
			return fail(err)
		}
		c.Bytes, c.Decodes = len(sent), bytes.Equal(decoded, plain)
	}
	for k := range encodedCodings {
		i := (k + run) % len(encodedCodings)
		c := &r.Codings[i]
		t := cfg
		t.Duration, t.AcceptEncoding, t.Warmup = s.o.duration, c.AcceptEncoding, loadWarmup
		if c.Report, err = loadtest.Run(ctx, t); err != nil {
			return fail(err)
		}
	}
	for i := range r.Codings {
		if id := r.Codings[0].Report.Throughput; id > 0 {
			r.Codings[i].Ratio = r.Codings[i].Report.Throughput / id
		}
	}
	return r
}

// warmScores starts the l1 state's composer (its log under name), warms
// its scores page of size includes for -warmup at -c, and returns it with
// its base URL and the load settings of the workloads on the page (its
// URL, -c, -max-requests). The caller stops the composer.
func (s *suite) warmScores(ctx context.Context, name string, size int) (*harness.Proc, string, loadtest.Config, error) {
	cp, base, err := s.startComposer(ctx, name, s.composerArgs("l1", ""))
	if err != nil {
		return nil, "", loadtest.Config{}, err
	}
	url := base + pagePath + "?size=" + strconv.Itoa(size)
	cfg := loadtest.Config{URLs: []string{url}, Concurrency: s.o.concurrency, MaxRequests: s.o.maxRequests}
	if s.o.warmup > 0 {
		w := cfg
		w.Duration, w.MaxRequests = s.o.warmup, 0
		if _, err := loadtest.Run(ctx, w); err != nil {
			cp.Stop()
			return nil, "", loadtest.Config{}, err
		}
	}
	return cp, base, cfg, nil
}

// fetchCoded fetches url once with Accept-Encoding ae (none if empty) and
// returns the body as sent and decoded from its Content-Encoding.
func fetchCoded(ctx context.Context, url, ae string) (sent, decoded []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	}
	resp, err := loadtest.NewClient(0).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if sent, err = io.ReadAll(resp.Body); err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: status %s", url, resp.Status)
	}
	c, ok := compress.Parse(resp.Header.Get("Content-Encoding"))
	if !ok || (ae != "" && c.String() != ae) {
		return nil, nil, fmt.Errorf("%s, Accept-Encoding %q: Content-Encoding %q", url, ae, resp.Header.Get("Content-Encoding"))
	}
	d, err := compress.NewReader(c, bytes.NewReader(sent))
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	decoded, err = io.ReadAll(d)
	return sent, decoded, err
}

// gzip6 returns the size of b through the gzip command at level 6.
func gzip6(ctx context.Context, b []byte) (int, error) {
	cmd := exec.CommandContext(ctx, "gzip", "-6", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("gzip -6: %w", err)
	}
	return len(out), nil
}

// loadAvg returns the machine's 1-minute load average, or -1.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return -1
	}
	return v
}

// writeEncodedMarkdown writes the scores-encoded table: per run and coding.
func writeEncodedMarkdown(w io.Writer, res []encodedResult, o *options) {
	fmt.Fprintf(w, "### scores-encoded: the warm scores page of %d includes per Accept-Encoding, c=%d for %s each\n\n", encodedSize, o.concurrency, o.duration)
	fmt.Fprintln(w, "| run | Accept-Encoding | req/s | ratio to uncompressed | TTLB p50 / p90 / p99 / max | bytes per page | × gzip -6 | decodes to the page | errors / requests | load before / after |")
	fmt.Fprintln(w, "|---|---|---:|---:|---|---:|---:|---|---:|---|")
	for _, r := range res {
		if r.Err != "" {
			fmt.Fprintf(w, "| %d | error: %s | | | | | | | | |\n", r.Run, r.Err)
			continue
		}
		for _, c := range r.Codings {
			ae := c.AcceptEncoding
			if ae == "" {
				ae = "(none)"
			}
			fmt.Fprintf(w, "| %d | %s | %.0f | %.2f | %s | %d | %.2f | %v | %d / %d | %.1f / %.1f |\n", r.Run, ae, c.Report.Throughput, c.Ratio,
				fmtP(c.Report.TTLB), c.Bytes, float64(c.Bytes)/float64(r.Gzip6), c.Decodes, c.Report.Errors, c.Report.Requests, r.LoadBefore, r.LoadAfter)
		}
	}
	fmt.Fprintln(w)
}
