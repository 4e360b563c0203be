package loadtest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// seqHeader is the request header in which vegeta numbers its hits.
const seqHeader = "X-Vegeta-Seq"

// scannedPage is what scanningTransport learnt about one response.
type scannedPage struct {
	firstByte time.Time
	status    int
	scan      pageScan
}

// scanningTransport wraps the transport vegeta's attacker uses. It records
// the time of the first response byte, reads and scans the whole body itself
// through a pooled buffer (so vegeta never buffers a body), and hands vegeta
// an empty body. Vegeta's latency therefore still runs to the last byte.
// Results are matched with vegeta's by the hit's sequence number.
type scanningTransport struct {
	next    http.RoundTripper
	ctx     context.Context // the run's context: cancelling it aborts requests
	markers [][]byte
	decode  bool // decode coded bodies (Config.Decode)
	bufs    sync.Pool

	mu    sync.Mutex
	pages map[uint64]*scannedPage
}

func newScanningTransport(ctx context.Context, next http.RoundTripper, markers [][]byte) *scanningTransport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &scanningTransport{
		next:    next,
		ctx:     ctx,
		markers: markers,
		bufs:    sync.Pool{New: func() any { return new([scanBufferSize]byte) }},
		pages:   make(map[uint64]*scannedPage),
	}
}

// RoundTrip implements http.RoundTripper.
func (t *scanningTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()

	page := new(scannedPage)
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { page.firstByte = time.Now() }}
	resp, err := t.next.RoundTrip(req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	if err != nil {
		return nil, err
	}
	if page.firstByte.IsZero() {
		page.firstByte = time.Now()
	}
	page.status = resp.StatusCode
	buf := t.bufs.Get().(*[scanBufferSize]byte)
	err = scanResponse(resp, buf[:], t.markers, t.decode, &page.scan)
	t.bufs.Put(buf)
	resp.Body.Close()

	if seq, perr := strconv.ParseUint(req.Header.Get(seqHeader), 10, 64); perr == nil {
		t.mu.Lock()
		t.pages[seq] = page
		t.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	resp.Body = http.NoBody
	resp.ContentLength = 0
	return resp, nil
}

// take returns and forgets what was recorded for hit seq, or nil.
func (t *scanningTransport) take(seq uint64) *scannedPage {
	t.mu.Lock()
	defer t.mu.Unlock()
	page := t.pages[seq]
	delete(t.pages, seq)
	return page
}

// CloseIdleConnections closes the wrapped transport's idle connections.
func (t *scanningTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// boundedPacer paces like the wrapped Pacer and stops once max hits have
// been sent after the warm-up (max zero means no bound). Vegeta calls it from
// a single goroutine.
type boundedPacer struct {
	vegeta.Pacer
	warmup  time.Duration
	max     uint64
	base    uint64 // hits sent before the warm-up ended
	counted bool   // base is known
}

// Pace implements vegeta.Pacer.
func (p *boundedPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if !p.counted && elapsed >= p.warmup {
		p.base, p.counted = hits, true
	}
	if p.max > 0 && p.counted && hits-p.base >= p.max {
		return 0, true
	}
	return p.Pacer.Pace(elapsed, hits)
}

// runRate sends requests at cfg.Rate per second with vegeta's attacker.
func runRate(ctx context.Context, cfg Config, client *http.Client) *Report {
	transport := newScanningTransport(ctx, client.Transport, cfg.markers())
	transport.decode = cfg.Decode
	vclient := *client
	vclient.Transport = transport

	attacker := vegeta.NewAttacker(
		vegeta.Client(&vclient),
		vegeta.Workers(uint64(cfg.Concurrency)),
		vegeta.MaxBody(0), // the transport has already read the body
	)

	pacer := &boundedPacer{
		Pacer:  vegeta.Rate{Freq: cfg.Rate, Per: time.Second},
		warmup: cfg.Warmup,
		max:    uint64(cfg.MaxRequests),
	}

	var total time.Duration // zero: until the pacer stops
	if cfg.Duration > 0 {
		total = cfg.Warmup + cfg.Duration
	}
	start := time.Now()
	measureStart := start.Add(cfg.Warmup)
	results := attacker.Attack(vegeta.NewStaticTargeter(rateTargets(&cfg)...), pacer, total, "")

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			attacker.Stop()
		case <-done:
		}
	}()

	rec := collectRate(ctx, &cfg, results, transport, measureStart)
	return rec.report(&cfg, "rate", time.Since(measureStart))
}

// rateTargets are the attacker's targets: a GET of each of cfg's URLs
// with its headers.
func rateTargets(cfg *Config) []vegeta.Target {
	targets := make([]vegeta.Target, len(cfg.URLs))
	for i, u := range cfg.URLs {
		targets[i] = vegeta.Target{Method: http.MethodGet, URL: u, Header: cfg.Header.Clone()}
		if cfg.AcceptEncoding != "" {
			targets[i].Header.Set("Accept-Encoding", cfg.AcceptEncoding)
		}
	}
	return targets
}

// collectRate records the hits of results sent from measureStart on, up
// to cfg.MaxRequests, each with what transport learnt of its response,
// until results is closed. A hit that failed because ctx ended is not
// recorded.
func collectRate(ctx context.Context, cfg *Config, results <-chan *vegeta.Result, transport *scanningTransport, measureStart time.Time) *recorder {
	rec := newRecorder(cfg)
	for hit := range results {
		page := transport.take(hit.Seq)
		if hit.Timestamp.Before(measureStart) {
			continue
		}
		if hit.Error != "" && ctx.Err() != nil {
			continue // aborted by the caller, not a failure of the target
		}
		if cfg.MaxRequests > 0 && rec.requests >= cfg.MaxRequests {
			continue
		}
		res := result{start: hit.Timestamp, status: int(hit.Code), ttlb: hit.Latency}
		if page != nil {
			res.status = page.status
			res.scan = page.scan
			res.ttfb = page.firstByte.Sub(hit.Timestamp)
		}
		if hit.Code == 0 && hit.Error != "" {
			res.err = errors.New(hit.Error)
		}
		rec.add(&res)
	}
	return rec
}
