package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Shutdown is the graceful-shutdown scenario (6).
type Shutdown struct {
	// The slow page: every feed call takes FeedLatency, the page two
	// levels of them (scoreboard, then its scores).
	FeedLatencyMS float64 `json:"feed_latency_ms"`
	SignalAfterMS float64 `json:"sigterm_after_ms"`
	// InFlight is the page that was being composed at SIGTERM.
	InFlightStatus   int     `json:"in_flight_status"`
	InFlightComplete bool    `json:"in_flight_complete"`
	InFlightMS       float64 `json:"in_flight_ms"`
	InFlightErr      string  `json:"in_flight_error,omitempty"`
	// NewConn is what a new connection got 200 ms after SIGTERM.
	NewConnRefused bool   `json:"new_connection_refused"`
	NewConnResult  string `json:"new_connection_result"`
	// ExitMS is the time from SIGTERM to the process's exit.
	ExitMS   float64 `json:"exit_ms"`
	ExitErr  string  `json:"exit_status"`
	ExitHeld bool    `json:"exit_within_bound"`
	BoundMS  float64 `json:"bound_ms"`
	// RedisKeys counts the page's entries in Redis after the exit: the
	// write-backs of the in-flight page were flushed (or not).
	RedisKeys    int  `json:"redis_entry_keys_after_exit"`
	ExpectedKeys int  `json:"expected_entry_keys"`
	Held         bool `json:"held"`
}

// shutdownSite is a one-page site whose page takes about two feed
// latencies, well within its budget.
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

// shutdownBound is how long the composer may take to exit after SIGTERM
// with one slow page in flight: the page's own remaining time plus the
// write-back flush, well under the composer's 10 s + 5 s limits.
const shutdownBound = 10 * time.Second

func (e *env) shutdown(ctx context.Context) (*Shutdown, error) {
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
	const size = 50
	cp, err := e.startComposer(ctx, "shutdown", "-config", cfg, "-redis", redisURL(rc),
		"-feed-latency", feedLatency.String(), "-feed-slow-every", "0")
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	res := &Shutdown{FeedLatencyMS: ms(feedLatency), BoundMS: ms(shutdownBound), ExpectedKeys: size + 1}

	type page struct {
		status int
		body   string
		err    error
		d      time.Duration
	}
	got := make(chan page, 1)
	t0 := time.Now()
	go func() {
		client := &http.Client{Timeout: 20 * time.Second}
		defer client.CloseIdleConnections()
		resp, err := client.Get(fmt.Sprintf("%s/slow?size=%d", cp.base, size))
		if err != nil {
			got <- page{err: err, d: time.Since(t0)}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- page{status: resp.StatusCode, body: string(b), err: err, d: time.Since(t0)}
	}()
	time.Sleep(500 * time.Millisecond)
	res.SignalAfterMS = ms(time.Since(t0))
	sig := time.Now()
	if err := cp.Signal(syscall.SIGTERM); err != nil {
		return nil, err
	}
	time.Sleep(200 * time.Millisecond)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(cp.base, "http://"), time.Second)
	switch {
	case err == nil:
		conn.Close()
		res.NewConnResult = "accepted"
	case errors.Is(err, syscall.ECONNREFUSED):
		res.NewConnRefused = true
		res.NewConnResult = "refused (ECONNREFUSED)"
	default:
		res.NewConnResult = err.Error()
	}
	p := <-got
	res.InFlightStatus, res.InFlightMS = p.status, ms(p.d)
	res.InFlightComplete = p.err == nil && strings.HasSuffix(strings.TrimSpace(p.body), "</html>")
	if p.err != nil {
		res.InFlightErr = p.err.Error()
	}
	select {
	case <-cp.Done():
		res.ExitMS = ms(time.Since(sig))
		res.ExitHeld = time.Since(sig) <= shutdownBound
		if err := cp.Err(); err != nil {
			res.ExitErr = err.Error()
		} else {
			res.ExitErr = "exit 0"
		}
	case <-time.After(shutdownBound):
		res.ExitMS = ms(shutdownBound)
		res.ExitErr = "still running at the bound"
	}
	keys, err := rc.Keys(ctx, "bs1:*").Result()
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "bs1:lock:") || strings.HasPrefix(k, "bs1:gen:") {
			continue
		}
		if parts := strings.SplitN(k, ":", 3); len(parts) == 3 && strings.Contains(parts[2], "?") {
			res.RedisKeys++
		}
	}
	res.Held = res.InFlightStatus == 200 && res.InFlightComplete && res.NewConnRefused && res.ExitHeld && res.ExitErr == "exit 0"
	return res, nil
}
