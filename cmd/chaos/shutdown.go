package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// Shutdown is the graceful-shutdown scenario (6): SIGTERM during a rolling
// deploy. A load balancer, played by the scenario, sends pages from a few
// clients and probes /readyz; it takes the composer out of rotation at
// the first probe that is not 200, as Kubernetes or any balancer with an
// active health check does. The composer must serve every request sent to
// it until then, and for -drain after the signal, then finish what it has
// in flight and exit.
type Shutdown struct {
	// The slow page: every feed call takes FeedLatency, the page two
	// levels of them (scoreboard, then its scores).
	FeedLatencyMS float64 `json:"feed_latency_ms"`
	DrainMS       float64 `json:"drain_ms"`
	// InFlight is the slow page that was being composed at SIGTERM.
	InFlightStatus   int     `json:"in_flight_status"`
	InFlightComplete bool    `json:"in_flight_complete"`
	InFlightMS       float64 `json:"in_flight_ms"`
	InFlightErr      string  `json:"in_flight_error,omitempty"`
	// Requests and Failed count the balancer's pages from the start of
	// the load to the composer's removal from rotation; AfterSignal are
	// those of them answered after SIGTERM. Errors samples the failures.
	Requests    int            `json:"requests"`
	Failed      int            `json:"failed"`
	AfterSignal int            `json:"answered_after_sigterm"`
	Errors      map[string]int `json:"error_samples,omitempty"`
	// ReadyzAfterSignal is the first /readyz answer after SIGTERM;
	// RemovedAfterMS when the balancer saw it.
	ReadyzAfterSignal string  `json:"readyz_after_sigterm"`
	RemovedAfterMS    float64 `json:"removed_after_ms"`
	// Removed is set when the balancer saw /readyz fail (503) and took
	// the composer out of rotation.
	Removed bool `json:"removed"`
	// NewConnDuringDrain is what a new connection got once the composer
	// was out of rotation, still draining: a request served.
	NewConnDuringDrain string `json:"new_connection_during_drain"`
	// ExitMS is the time from SIGTERM to the process's exit.
	ExitMS   float64 `json:"exit_ms"`
	ExitErr  string  `json:"exit_status"`
	ExitHeld bool    `json:"exit_within_bound"`
	BoundMS  float64 `json:"bound_ms"`
	// RedisKeys counts the pages' entries in Redis after the exit: the
	// write-backs of the in-flight page were flushed (or not).
	RedisKeys    int  `json:"redis_entry_keys_after_exit"`
	ExpectedKeys int  `json:"expected_entry_keys"`
	Held         bool `json:"held"`
}

// shutdownSite is a one-page site whose page takes about two feed
// latencies cold, well within its budget, and a moment once cached.
const shutdownSite = `site:
  budget: 8s
  max_depth: 4
  max_includes: 25000
fragments:
  scoreboard: {timeout: 4s, fresh: 10m, stale: 20m}
  score: {timeout: 4s, fresh: 10m, stale: 20m}
pages:
  - name: slow
    path: /slow
    title: "Slow"
    layout: scores
    budget: 8s
    includes:
      - {fragment: scoreboard, slot: board, params: {size: "{query.size}"}, primary: true}
`

// The shutdown scenario's figures: its drain, the bound on the exit after
// SIGTERM (the drain, then the slow page's remaining time and the
// write-back flush, under the composer's 10 s + 5 s limits), the
// balancer's clients and its probe period.
const (
	shutdownDrain   = 3 * time.Second
	shutdownBound   = shutdownDrain + 10*time.Second
	balancerClients = 4
	probeEvery      = 50 * time.Millisecond
)

// shutdown runs scenario 6 with the composer's -drain set to drain.
func (e *env) shutdown(ctx context.Context, drain time.Duration) (*Shutdown, error) {
	rp, rc, err := e.startRedis(ctx, "shutdown")
	if err != nil {
		return nil, err
	}
	defer rp.Stop()
	defer rc.Close()
	cfg := filepath.Join(e.dir, "shutdown.yaml")
	if err := os.WriteFile(cfg, []byte(shutdownSite), 0o644); err != nil {
		return nil, err
	}
	const feedLatency = 1500 * time.Millisecond
	const size, warmSize = 50, 5
	cp, err := e.startComposer(ctx, "shutdown", "-config", cfg, "-redis", redisURL(rc),
		"-feed-latency", feedLatency.String(), "-feed-slow-every", "0", "-drain", drain.String())
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	res := &Shutdown{FeedLatencyMS: loadtest.Millis(feedLatency), DrainMS: loadtest.Millis(drain), BoundMS: loadtest.Millis(shutdownBound), ExpectedKeys: size + 2}
	client := &http.Client{Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	warmURL := fmt.Sprintf("%s/slow?size=%d", cp.base, warmSize)
	if status, err := getPage(ctx, client, warmURL); err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("shutdown: warming %s: %d %v", warmURL, status, err)
	}

	// The slow page, in flight at SIGTERM: it has started once the
	// composer has calls in flight.
	got := fetchSlow(client, fmt.Sprintf("%s/slow?size=%d", cp.base, size))
	if err := waitMetric(ctx, client, cp.admin+"/metrics", "broadsheet_fragment_calls_in_flight", 1, 10*time.Second); err != nil {
		return nil, err
	}
	sig, err := res.signalUnderLoad(ctx, client, cp, warmURL)
	if err != nil {
		return nil, err
	}
	// Out of rotation and still draining: a new connection is served.
	if st, err := getPage(ctx, &http.Client{Timeout: 5 * time.Second}, cp.base+"/readyz"); err != nil {
		res.NewConnDuringDrain = err.Error()
	} else {
		res.NewConnDuringDrain = fmt.Sprintf("served: /readyz %d", st)
	}
	res.inFlight(<-got)
	res.waitExit(cp, sig)
	if res.RedisKeys, err = countQueryEntries(ctx, rc); err != nil {
		return nil, err
	}
	res.Held = res.Failed == 0 && res.AfterSignal > 0 && res.Removed && res.RemovedAfterMS < loadtest.Millis(shutdownDrain) &&
		strings.HasPrefix(res.NewConnDuringDrain, "served") &&
		res.InFlightStatus == 200 && res.InFlightComplete && res.ExitHeld && res.ExitErr == "exit 0"
	return res, nil
}

// slowPage is the answer to the page in flight at SIGTERM, and how long it
// took.
type slowPage struct {
	status int
	body   string
	err    error
	d      time.Duration
}

// fetchSlow gets url in the background; the returned channel receives its
// answer once.
func fetchSlow(client *http.Client, url string) <-chan slowPage {
	got := make(chan slowPage, 1)
	t0 := time.Now()
	go func() {
		resp, err := client.Get(url)
		if err != nil {
			got <- slowPage{err: err, d: time.Since(t0)}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- slowPage{status: resp.StatusCode, body: string(b), err: err, d: time.Since(t0)}
	}()
	return got
}

// signalUnderLoad starts the balancer on page (and cp's /readyz), sends
// cp SIGTERM once it has served 20 pages, and stops the balancer when it
// takes cp out of rotation (or at shutdownBound); it records the
// balancer's counts in res and returns when the signal was sent.
func (res *Shutdown) signalUnderLoad(ctx context.Context, client *http.Client, cp *composerProc, page string) (time.Time, error) {
	lb := newBalancer(client, page, cp.base+"/readyz")
	lb.start(ctx)
	if err := lb.waitServed(ctx, 20); err != nil {
		lb.stop()
		return time.Time{}, err
	}
	sig := time.Now()
	if err := cp.Signal(syscall.SIGTERM); err != nil {
		lb.stop()
		return time.Time{}, err
	}
	// A probe already on its way, or one that beats the process's signal
	// handler by a moment, still finds it ready: what counts is that
	// readiness fails while pages are still served (RemovedAfterMS, within
	// the drain).
	lb.signalled.Store(true)
	select {
	case <-lb.removed:
		res.RemovedAfterMS = loadtest.Millis(time.Since(sig))
		res.Removed = true
	case <-time.After(shutdownBound):
	}
	lb.stop()
	res.Requests, res.Failed, res.AfterSignal, res.Errors = lb.counts()
	res.ReadyzAfterSignal = lb.firstAfterSignal()
	return sig, nil
}

// inFlight records p, the page in flight at SIGTERM: complete when it
// ends with </html>.
func (res *Shutdown) inFlight(p slowPage) {
	res.InFlightStatus, res.InFlightMS = p.status, loadtest.Millis(p.d)
	res.InFlightComplete = p.err == nil && strings.HasSuffix(strings.TrimSpace(p.body), "</html>")
	if p.err != nil {
		res.InFlightErr = p.err.Error()
	}
}

// waitExit waits for cp to exit, up to shutdownBound after sig, and
// records when and how it did.
func (res *Shutdown) waitExit(cp *composerProc, sig time.Time) {
	select {
	case <-cp.Done():
		res.ExitMS = loadtest.Millis(time.Since(sig))
		res.ExitHeld = time.Since(sig) <= shutdownBound
		if err := cp.Err(); err != nil {
			res.ExitErr = err.Error()
		} else {
			res.ExitErr = "exit 0"
		}
	case <-time.After(shutdownBound):
		res.ExitMS = loadtest.Millis(shutdownBound)
		res.ExitErr = "still running at the bound"
	}
}

// countQueryEntries counts the entries in Redis whose key holds a query
// (the slow page's includes, which take size), not the locks' or
// generations'; countEntries (herd.go) counts every entry.
func countQueryEntries(ctx context.Context, rc *redis.Client) (int, error) {
	keys, err := rc.Keys(ctx, "bs1:*").Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, "bs1:lock:") || strings.HasPrefix(k, "bs1:gen:") {
			continue
		}
		if parts := strings.SplitN(k, ":", 3); len(parts) == 3 && strings.Contains(parts[2], "?") {
			n++
		}
	}
	return n, nil
}

// getPage GETs url and reads the whole body.
func getPage(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}

// waitMetric polls a /metrics endpoint until series is at least min.
func waitMetric(ctx context.Context, client *http.Client, url, series string, min float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		m, err := harness.Scrape(ctx, client, url)
		if err == nil && m.Get(series) >= min {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("shutdown: %s never reached %v at %s", series, min, url)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
