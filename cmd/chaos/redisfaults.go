package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// RedisFault is one Redis fault under load (scenario 1).
type RedisFault struct {
	Fault   string  `json:"fault"`
	Rate    int     `json:"rate"`
	FaultAt float64 `json:"fault_at_s"`
	// RestoreAt is when Redis was restored (restarted, continued, or the
	// pause ended).
	RestoreAt   float64      `json:"restore_at_s"`
	Windows     []*Window    `json:"windows"`
	Transitions []Transition `json:"breaker_transitions"`
	Requests    int          `json:"requests"`
	FiveXX      int          `json:"5xx"`
	Transport   int          `json:"transport_errors"`
	Incomplete  int          `json:"incomplete"`
	// WorstP99 is the largest per-second TTLB p99 in ms.
	WorstP99 float64 `json:"worst_p99_ms"`
	// HitRateBefore is the Redis hit ratio of the second before the fault.
	HitRateBefore float64 `json:"hit_rate_before"`
	// RecoverySeconds is the time from the restore to the end of the first
	// second whose Redis hit ratio is back to 90% of HitRateBefore (-1:
	// not within the run).
	RecoverySeconds float64 `json:"recovery_s"`
	// StableSeconds is like RecoverySeconds for the first second from which
	// every later second of the run keeps that ratio (-1: never).
	StableSeconds float64 `json:"stable_recovery_s"`
	Held          bool    `json:"held"`
}

// redisFaults runs the three Redis faults, each on a fresh composer and
// redis-server.
func (e *env) redisFaults(ctx context.Context) ([]*RedisFault, error) {
	var out []*RedisFault
	for _, fault := range []string{"kill", "stop", "pause"} {
		f, err := e.redisFault(ctx, fault)
		if err != nil {
			return out, fmt.Errorf("%s: %w", fault, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// warmSettings keeps the scores page's fragments fresh for the whole run.
var warmSettings = map[string]map[string]string{
	"nav":        {"fresh": "10m", "stale": "20m"},
	"scoreboard": {"fresh": "10m", "stale": "20m"},
	"score":      {"fresh": "10m", "stale": "20m"},
	"footer":     {"fresh": "10m", "stale": "20m"},
}

func (e *env) redisFault(ctx context.Context, fault string) (*RedisFault, error) {
	o := e.o
	name := "redis-" + fault
	rp, rc, err := e.startRedis(ctx, name)
	if err != nil {
		return nil, err
	}
	f := &faultedRedis{e: e, name: name, fault: fault, rp: rp, rc: rc}
	defer func() { f.rp.Stop() }() // the Redis running at the end, restarted or not
	defer rc.Close()
	cfg, err := e.writeConfig(name+".yaml", warmSettings)
	if err != nil {
		return nil, err
	}
	// In-process tier off: every include is a Redis look-up, so the hit
	// rate shows the shared tier alone. Fragment calls are quick and
	// steady (1 ms), so a page without Redis is still well within budget.
	cp, err := e.startComposer(ctx, name, "-config", cfg, "-redis", redisURL(rc), "-l1-mb", "0",
		"-feed-latency", "1ms", "-feed-slow-every", "0")
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	client := loadClient()
	defer client.CloseIdleConnections()
	url := cp.pageURL(o.size)
	// Warm Redis: a few pages, then wait for the write-backs.
	if _, err := windowRun(ctx, client, url, 10, time.Second, 0); err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond)

	const before, after = 4, 12 // seconds of load before the fault and after the restore
	hold := o.faultFor
	if fault == "pause" {
		hold = 3 * time.Second
	}
	total := before + int(hold.Seconds()+0.5) + after
	res := &RedisFault{Fault: fault, Rate: o.rate, RecoverySeconds: -1, StableSeconds: -1}
	start := time.Now()
	smp := startSampler(ctx, cp, start, 200*time.Millisecond)
	prev, _ := harness.Scrape(ctx, client, cp.admin+"/metrics")

	// The fault and the restore run beside the load.
	faultDone := make(chan error, 1)
	go func() { faultDone <- f.inject(ctx, res, start, before*time.Second, hold) }()
	loadErr := loadWindows(ctx, client, cp, url, o.rate, total, start, prev, res)
	smp.stop()
	if err := <-faultDone; err != nil {
		return nil, err
	}
	if loadErr != nil {
		return nil, loadErr
	}
	res.Transitions = smp.trans
	summarizeFault(res, before)
	return res, nil
}

// faultedRedis is the redis-server of a Redis fault scenario: rp is the
// process running, a new one once a killed one has been restarted.
type faultedRedis struct {
	e     *env
	name  string
	fault string
	rp    *harness.Proc
	rc    *redis.Client
}

// inject waits until at after start, puts the fault in place for hold
// and then restores Redis, noting in res when it did both (in seconds
// since start). It returns when Redis is restored, or when ctx ends.
func (f *faultedRedis) inject(ctx context.Context, res *RedisFault, start time.Time, at, hold time.Duration) error {
	select {
	case <-time.After(time.Until(start.Add(at))):
	case <-ctx.Done():
		return ctx.Err()
	}
	res.FaultAt = round1(time.Since(start).Seconds())
	switch f.fault {
	case "kill":
		if err := f.rp.Signal(syscall.SIGKILL); err != nil {
			return err
		}
		<-f.rp.Done()
		time.Sleep(hold)
		if err := f.restart(ctx); err != nil {
			return err
		}
	case "stop":
		if err := f.rp.Signal(syscall.SIGSTOP); err != nil {
			return err
		}
		time.Sleep(hold)
		if err := f.rp.Signal(syscall.SIGCONT); err != nil {
			return err
		}
	case "pause":
		if err := f.rc.Do(ctx, "CLIENT", "PAUSE", hold.Milliseconds(), "ALL").Err(); err != nil {
			return err
		}
		time.Sleep(hold)
	}
	res.RestoreAt = round1(time.Since(start).Seconds())
	return nil
}

// restart starts a new redis-server on the killed one's port and data
// directory, and makes it f's.
func (f *faultedRedis) restart(ctx context.Context) error {
	e := f.e
	port := f.rc.Options().Addr[len("127.0.0.1:"):]
	var portN int
	fmt.Sscan(port, &portN)
	np, nc, err := harness.StartRedisOn(ctx, e.o.redisBin, filepath.Join(e.dir, f.name+"-redis"), filepath.Join(e.dir, f.name+"-redis.log"), portN)
	if err != nil {
		return err
	}
	nc.Close()
	f.rp = np
	return nil
}

// loadWindows offers rate to url in total 1-second windows from start (or
// until ctx ends), each filled with the composer's figures against the
// metrics of the window before it (prev, for the first), into res.Windows.
func loadWindows(ctx context.Context, client *http.Client, cp *composerProc, url string, rate, total int, start time.Time, prev harness.Metrics, res *RedisFault) error {
	for range total {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Since(start).Seconds()
		w, err := windowRun(ctx, client, url, rate, time.Second, 0)
		if err != nil {
			return err
		}
		w.T = round1(t0)
		m, err := harness.Scrape(ctx, client, cp.admin+"/metrics")
		if err == nil {
			fill(w, m, prev, cp.PID())
			prev = m
		}
		res.Windows = append(res.Windows, w)
	}
	return nil
}

func summarizeFault(res *RedisFault, before int) {
	for i, w := range res.Windows {
		res.Requests += w.Requests
		res.FiveXX += w.fiveXX()
		res.Transport += w.Transport
		res.Incomplete += w.Incomplete
		res.WorstP99 = max(res.WorstP99, loadtest.Millis(w.TTLB.P99))
		if i == before-2 { // the last whole second before the fault (the next one is scraped after it)
			res.HitRateBefore = w.HitRate()
		}
	}
	target := 0.9 * res.HitRateBefore
	for _, w := range res.Windows {
		if w.T < res.RestoreAt {
			continue
		}
		if hr := w.HitRate(); hr >= target && hr > 0 {
			res.RecoverySeconds = round1(w.T + 1 - res.RestoreAt)
			break
		}
	}
	res.StableSeconds = -1
	for i := len(res.Windows) - 1; i >= 0; i-- {
		w := res.Windows[i]
		if w.T < res.RestoreAt || w.HitRate() < target || w.HitRate() <= 0 {
			break
		}
		res.StableSeconds = round1(w.T + 1 - res.RestoreAt)
	}
	res.Held = res.FiveXX == 0 && res.Transport == 0 && res.Incomplete == 0 &&
		res.WorstP99 <= loadtest.Millis(budget+slack) && res.RecoverySeconds >= 0
}

// slack is the "small constant" over budget that p99 may take.
const slack = 50 * time.Millisecond
