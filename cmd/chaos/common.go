package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// scoresPath is the page every scenario drives.
const scoresPath = "/sport/football/scores"

// budget is the scores page's budget in site.yaml.
const budget = 400 * time.Millisecond

// composerProc is one composer child with its public and admin addresses.
type composerProc struct {
	*harness.Proc
	base  string // http://127.0.0.1:port
	admin string // http://127.0.0.1:port of -admin-addr
}

func (c *composerProc) pageURL(size int) string {
	return c.base + scoresPath + "?size=" + strconv.Itoa(size)
}

// writeConfig writes site patched with ttls (and extra fragment settings)
// to name in the scenario directory.
func (e *env) writeConfig(name string, settings map[string]map[string]string) (string, error) {
	var names []string
	for n := range settings {
		names = append(names, n)
	}
	patched, err := harness.PatchFragments(e.site, func(n string) map[string]string { return settings[n] }, slices.Sorted(slices.Values(names)))
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.dir, name)
	return path, os.WriteFile(path, patched, 0o644)
}

// startComposer starts the composer with args (besides -addr and
// -admin-addr, which it picks) and waits until it is ready (/readyz).
func (e *env) startComposer(ctx context.Context, name string, args ...string) (*composerProc, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	aport, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	aaddr := fmt.Sprintf("127.0.0.1:%d", aport)
	args = append([]string{"-addr", addr, "-admin-addr", aaddr, "-demo-league", "0", "-log-level", "warn"}, args...)
	p, err := harness.Start(name, e.bin, args, filepath.Join(e.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	c := &composerProc{Proc: p, base: "http://" + addr, admin: "http://" + aaddr}
	if err := harness.WaitHTTP(ctx, p, c.base+"/readyz", 15*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return c, nil
}

// startRedis starts a redis-server for scenario name.
func (e *env) startRedis(ctx context.Context, name string) (*harness.Proc, *redis.Client, error) {
	rdir := filepath.Join(e.dir, name+"-redis")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, nil, err
	}
	return harness.StartRedis(ctx, e.o.redisBin, rdir, filepath.Join(e.dir, name+"-redis.log"))
}

func redisURL(c *redis.Client) string { return "redis://" + c.Options().Addr + "/0" }

// Window is one second (or step) of fixed-rate load.
type Window struct {
	T          float64              `json:"t_s"` // start, seconds from the run's start
	Rate       int                  `json:"rate"`
	Requests   int                  `json:"requests"`
	Status     map[string]int       `json:"status"`
	Transport  int                  `json:"transport_errors"`
	Incomplete int                  `json:"incomplete"`
	TTLB       loadtest.Percentiles `json:"ttlb"`
	// Completed is the requests per second the client completed (any
	// status); Errors samples the transport errors by message.
	Completed float64        `json:"completed_per_s,omitempty"`
	Errors    map[string]int `json:"error_samples,omitempty"`
	// From the composer's /metrics at the end of the window.
	RedisHits    float64 `json:"redis_hits,omitempty"`
	RedisLookups float64 `json:"redis_lookups,omitempty"`
	Breaker      string  `json:"breaker,omitempty"`
	Goroutines   float64 `json:"goroutines,omitempty"`
	InFlight     float64 `json:"fragment_calls_in_flight,omitempty"`
	RSSKiB       int64   `json:"rss_kib,omitempty"`
	Note         string  `json:"note,omitempty"`
}

// HitRate is the window's Redis hit ratio (-1 without look-ups).
func (w *Window) HitRate() float64 {
	if w.RedisLookups == 0 {
		return -1
	}
	return w.RedisHits / w.RedisLookups
}

// fiveXX counts the window's 5xx answers.
func (w *Window) fiveXX() int {
	n := 0
	for code, c := range w.Status {
		if len(code) == 3 && code[0] == '5' {
			n += c
		}
	}
	return n
}

// windowRun drives url at rate for d with loadtest (open loop, bounded to
// rate × d requests) and returns the window.
func windowRun(ctx context.Context, client *http.Client, url string, rate int, d time.Duration, expect int) (*Window, error) {
	return windowRunURLs(ctx, client, []string{url}, rate, d, expect)
}

// windowRunURLs is windowRun over urls, in turn.
func windowRunURLs(ctx context.Context, client *http.Client, urls []string, rate int, d time.Duration, expect int) (*Window, error) {
	rep, err := loadtest.Run(ctx, loadtest.Config{
		URLs:           urls,
		Rate:           rate,
		Duration:       d,
		MaxRequests:    int(float64(rate)*d.Seconds()) + 1,
		ExpectIncludes: expect,
		Client:         client,
	})
	if err != nil {
		return nil, err
	}
	return windowOf(rate, rep), nil
}

func windowOf(rate int, rep *loadtest.Report) *Window {
	w := &Window{Rate: rate, Requests: rep.Requests, Status: map[string]int{}, Transport: rep.TransportErrors,
		Incomplete: rep.Incomplete, TTLB: rep.TTLB, Completed: round1(rep.Throughput)}
	if len(rep.ErrorSamples) > 0 {
		w.Errors = rep.ErrorSamples
	}
	for code, n := range rep.Status {
		w.Status[strconv.Itoa(code)] = n
	}
	return w
}

// loadClient is an HTTP/1.1 client for the load runs with room for many
// connections and a request timeout well past any budget.
func loadClient() *http.Client { return loadtest.NewClient(10 * time.Second) }

// pooledClient is a load client holding at most conns connections to the
// composer, kept alive and reused, as a load balancer or CDN in front of
// it does (Envoy's default, for one, is 1,024 per backend): requests beyond
// wait for a connection in the client. Without a bound, an open-loop client
// facing a slow answer opens a new connection per request, and every
// connection the composer sheds with Connection: close is redialled: the
// load becomes one TCP handshake per request, which overflows the kernel's
// accept queue (SYNs dropped, retried after 1 s and 3 s) long before the
// composer's request-level shedding can answer.
//
// Like such a proxy (Envoy's max_pending_requests), it also bounds the
// requests waiting for a connection, at as many again: a request beyond
// fails at once with errClientOverflow, without being sent, rather than
// queueing in the client until its timeout. The client's report then tells
// requests the composer was sent (and answered) from those the client
// itself could not send.
func pooledClient(conns int) *http.Client {
	c := loadtest.NewClient(10 * time.Second)
	t := c.Transport.(*http.Transport)
	t.MaxConnsPerHost, t.MaxIdleConnsPerHost = conns, conns
	c.Transport = &boundedTransport{next: t, slots: make(chan struct{}, 2*conns)}
	return c
}

// errClientOverflow fails a request the client could not send: every
// connection busy and as many requests already waiting for one.
var errClientOverflow = errors.New("chaos: client overflow: request not sent (all connections busy, pending bound reached)")

// boundedTransport admits at most cap(slots) requests at once (in flight
// or waiting for a connection), from the request to its body's Close.
type boundedTransport struct {
	next  *http.Transport
	slots chan struct{}
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case t.slots <- struct{}{}:
	default:
		return nil, errClientOverflow
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		<-t.slots
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { <-t.slots }}
	return resp, nil
}

func (t *boundedTransport) CloseIdleConnections() { t.next.CloseIdleConnections() }

type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// sampler scrapes a composer's /metrics every interval and records the
// breaker's transitions with their time.
type sampler struct {
	c       *composerProc
	start   time.Time
	stopc   chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	last    harness.Metrics
	trans   []Transition
	state   string
	maxRSS  int64
	maxGo   float64
	maxOpen float64 // broadsheet_connections_open
}

// Transition is a breaker state change seen by the sampler.
type Transition struct {
	T     float64 `json:"t_s"`
	State string  `json:"state"`
}

func breakerName(v float64) string {
	switch v {
	case 0:
		return "closed"
	case 1:
		return "half-open"
	}
	return "open"
}

func startSampler(ctx context.Context, c *composerProc, start time.Time, interval time.Duration) *sampler {
	s := &sampler{c: c, start: start, stopc: make(chan struct{})}
	client := &http.Client{Timeout: 2 * time.Second}
	s.wg.Go(func() {
		defer client.CloseIdleConnections()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if m, err := harness.Scrape(ctx, client, c.admin+"/metrics"); err == nil {
				s.mu.Lock()
				s.last = m
				if _, ok := m["broadsheet_redis_breaker_state"]; ok {
					st := breakerName(m["broadsheet_redis_breaker_state"])
					if st != s.state {
						s.trans = append(s.trans, Transition{T: round1(time.Since(s.start).Seconds()), State: st})
						s.state = st
					}
				}
				s.maxGo = max(s.maxGo, m["go_goroutines"])
				s.maxOpen = max(s.maxOpen, m["broadsheet_connections_open"])
				s.mu.Unlock()
			}
			if mem, err := harness.ReadMem(c.PID()); err == nil {
				s.mu.Lock()
				s.maxRSS = max(s.maxRSS, mem.RSS)
				s.mu.Unlock()
			}
			select {
			case <-s.stopc:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return s
}

// metrics returns the last scrape.
func (s *sampler) metrics() harness.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *sampler) stop() {
	close(s.stopc)
	s.wg.Wait()
}

// fill adds the composer's figures to w: Redis look-ups since prev, the
// breaker, goroutines, calls in flight and RSS now.
func fill(w *Window, m, prev harness.Metrics, pid int) {
	if m == nil {
		return
	}
	w.RedisHits = m.Sum("broadsheet_cache_lookups_total", `tier="redis"`, `result="hit"`) - prev.Sum("broadsheet_cache_lookups_total", `tier="redis"`, `result="hit"`)
	w.RedisLookups = m.Sum("broadsheet_cache_lookups_total", `tier="redis"`) - prev.Sum("broadsheet_cache_lookups_total", `tier="redis"`)
	if v, ok := m["broadsheet_redis_breaker_state"]; ok {
		w.Breaker = breakerName(v)
	}
	w.Goroutines = m["go_goroutines"]
	w.InFlight = m["broadsheet_fragment_calls_in_flight"]
	if mem, err := harness.ReadMem(pid); err == nil {
		w.RSSKiB = mem.RSS
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
