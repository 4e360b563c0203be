// Package loadtest drives HTTP load against composed Broadsheet pages and
// reports throughput, time-to-first-byte and time-to-last-byte percentiles,
// status codes, errors, and page completeness.
//
// A run either keeps a fixed number of requests in flight (closed loop: each
// worker sends its next request once the previous response has been read to
// the end) or sends requests at a fixed rate regardless of how fast they
// complete (open loop, paced by vegeta). Every response body is scanned as it
// streams in: it must end with </html>, may be required to carry a minimum
// number of data-fragment=" markers, and its data-outcome="X" values are
// totalled per X.
//
// FloorServer and RunFloor measure a "floor": the same bytes served from
// memory by a trivial server, which bounds what the client and the loopback
// network can do on this machine.
package loadtest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// DefaultTimeout is the per-request timeout used when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config describes a run. A run stops when Duration has elapsed after the
// warm-up, when MaxRequests requests have been recorded, or when the context
// passed to Run is cancelled, whichever comes first. At least one of Duration
// and MaxRequests must be set.
type Config struct {
	// URLs are requested in round-robin order with GET.
	URLs []string
	// Concurrency is the number of closed-loop workers (default 1). In rate
	// mode it is the number of vegeta workers started up front (default
	// 10); vegeta adds workers as needed to hold the rate.
	Concurrency int
	// Rate, when positive, selects open-loop mode: requests are sent at
	// this many per second whatever the response times.
	Rate int
	// Duration bounds the measured part of the run. Zero means no time
	// bound.
	Duration time.Duration
	// MaxRequests bounds the number of recorded requests. Zero means no
	// count bound. In closed-loop mode exactly MaxRequests requests are
	// recorded unless another bound stops the run first; in rate mode the
	// pacer stops after about MaxRequests and no more than MaxRequests are
	// recorded.
	MaxRequests int
	// Warmup is run before the measurement with the same settings; its
	// requests are not recorded.
	Warmup time.Duration
	// ExpectIncludes, when positive, is the minimum number of
	// data-fragment=" markers a 2xx body must contain to be complete.
	ExpectIncludes int
	// Markers are texts counted in every body (Report.Markers, and
	// PageResult.Markers with KeepPages): for instance the attribute a
	// fragment service writes once in each fragment it serves, or a
	// composer's placeholder comment. Each must be 1 to 256 bytes and must
	// not overlap itself (no proper prefix that is also a suffix, as in
	// "abab"), so that occurrences never overlap.
	Markers []string
	// KeepPages keeps one PageResult per recorded request in Report.Pages.
	KeepPages bool
	// AcceptEncoding, when set, is sent as the Accept-Encoding of every
	// request. A response with a Content-Encoding (gzip, zstd, br) is then
	// decoded before it is scanned only with Decode; without it the body
	// is scanned as sent (Bytes are the bytes on the wire) and is complete
	// when it was read to its end without error — its </html> and markers
	// cannot be seen, so ExpectIncludes and Markers need Decode. A coding
	// the scanner cannot decode is a transport error.
	AcceptEncoding string
	Decode         bool
	// Header holds further header fields sent with every request, for
	// instance an If-None-Match with the page's ETag. When it holds
	// If-None-Match or If-Modified-Since, a 304 Not Modified is a complete
	// response (it has no body by definition) rather than a non-2xx error.
	Header http.Header
	// Timeout bounds each request, body included. It is used only when
	// Client is nil. Zero means DefaultTimeout.
	Timeout time.Duration
	// Client, if set, sends the requests. Otherwise NewClient is used. Run
	// closes the client's idle connections when it returns.
	Client *http.Client
}

// NewClient returns the client Run uses by default: HTTP/1.1 keep-alive
// connections with vegeta's connection settings (up to vegeta's
// DefaultConnections idle connections per host, no cap on open ones, 30s TCP
// keep-alive), no proxy, no redirects followed (a 3xx counts as a non-2xx
// error), and no transparent compression, so bodies are scanned as sent.
func NewClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConnsPerHost: vegeta.DefaultConnections,
			MaxConnsPerHost:     vegeta.DefaultMaxConnections,
			DisableCompression:  true,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Run drives load as described by cfg and returns the report of the measured
// part. Cancelling ctx stops the run early and aborts requests in flight;
// the report then covers the requests completed until then.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("loadtest: no URLs")
	}
	if cfg.Duration <= 0 && cfg.MaxRequests <= 0 {
		return nil, errors.New("loadtest: neither Duration nor MaxRequests is set")
	}
	if cfg.Concurrency < 0 || cfg.Rate < 0 || cfg.MaxRequests < 0 || cfg.Warmup < 0 || cfg.ExpectIncludes < 0 {
		return nil, errors.New("loadtest: negative setting")
	}
	for _, m := range cfg.Markers {
		if err := checkMarker(m); err != nil {
			return nil, err
		}
	}
	for _, u := range cfg.URLs {
		if _, err := http.NewRequest(http.MethodGet, u, nil); err != nil {
			return nil, err
		}
	}
	h := make(http.Header, len(cfg.Header))
	for k, vs := range cfg.Header {
		for _, v := range vs {
			h.Add(k, v) // canonical names, so that fetch can assign them
		}
	}
	cfg.Header = h
	client := cfg.Client
	if client == nil {
		client = NewClient(cfg.Timeout)
	}
	defer client.CloseIdleConnections()

	if cfg.Rate > 0 {
		if cfg.Concurrency == 0 {
			cfg.Concurrency = vegeta.DefaultWorkers
		}
		return runRate(ctx, cfg, client), nil
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	return runClosed(ctx, cfg, client), nil
}

// runClosed runs cfg.Concurrency workers, each sending a request as soon as
// its previous response has been read.
func runClosed(ctx context.Context, cfg Config, client *http.Client) *Report {
	start := time.Now()
	measureStart := start.Add(cfg.Warmup)
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = measureStart.Add(cfg.Duration)
	}

	var (
		next     atomic.Uint64 // round-robin URL index
		recorded atomic.Int64  // measurement slots taken
		wg       sync.WaitGroup
		recs     = make([]*recorder, cfg.Concurrency)
	)
	for i := range recs {
		rec := newRecorder(&cfg)
		recs[i] = rec
		markers := cfg.markers()
		wg.Go(func() {
			buf := make([]byte, scanBufferSize)
			for ctx.Err() == nil {
				now := time.Now()
				if !deadline.IsZero() && !now.Before(deadline) {
					return
				}
				measured := !now.Before(measureStart)
				if measured && cfg.MaxRequests > 0 && recorded.Add(1) > int64(cfg.MaxRequests) {
					return
				}
				url := cfg.URLs[(next.Add(1)-1)%uint64(len(cfg.URLs))]
				res := fetch(ctx, client, url, buf, markers, &cfg)
				if res.err != nil && ctx.Err() != nil {
					return // aborted by the caller, not a failure of the target
				}
				if measured {
					rec.add(&res)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(measureStart)

	total := newRecorder(&cfg)
	for _, rec := range recs {
		total.merge(rec)
	}
	return total.report(&cfg, "closed", elapsed)
}

// conditional reports whether cfg's requests are conditional GETs, to
// which a 304 is a complete answer.
func (cfg *Config) conditional() bool {
	return cfg.Header.Get("If-None-Match") != "" || cfg.Header.Get("If-Modified-Since") != ""
}

// markers returns cfg.Markers as byte slices, for scanBody.
func (cfg *Config) markers() [][]byte {
	out := make([][]byte, len(cfg.Markers))
	for i, m := range cfg.Markers {
		out[i] = []byte(m)
	}
	return out
}

// fetch sends one GET and scans the whole body through buf.
func fetch(ctx context.Context, client *http.Client, url string, buf []byte, markers [][]byte, cfg *Config) result {
	var (
		res       result
		firstByte time.Time
	)
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { firstByte = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	res.start = time.Now()
	if err != nil {
		res.err = err
		return res
	}
	for k, vs := range cfg.Header {
		req.Header[k] = vs
	}
	if cfg.AcceptEncoding != "" {
		req.Header.Set("Accept-Encoding", cfg.AcceptEncoding)
	}
	resp, err := client.Do(req)
	if err != nil {
		res.err = err
		res.ttlb = time.Since(res.start)
		return res
	}
	if firstByte.IsZero() { // a transport that does not report the trace event
		firstByte = time.Now()
	}
	res.status = resp.StatusCode
	res.err = scanResponse(resp, buf, markers, cfg.Decode, &res.scan)
	resp.Body.Close()
	res.ttlb = time.Since(res.start)
	res.ttfb = firstByte.Sub(res.start)
	return res
}
