package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// Memory is the memory-exhaustion scenario (issue 20, item 2): anonymous
// clients asking for the scores page at random sizes, each a new cache key
// and a new scoreboard of up to 18,000 includes, while a reader asks for
// the front page at a fixed rate.
type Memory struct {
	Seconds     float64 `json:"seconds"`
	Concurrency int     `json:"concurrency"`
	MaxSize     int     `json:"max_size"`
	// L1MiB and StitchMiB are the composer's caches (its defaults);
	// LimitMiB is what RSS must stay under: the caches and 256 MiB.
	L1MiB     int64 `json:"l1_mib"`
	StitchMiB int64 `json:"stitch_mib"`
	LimitMiB  int64 `json:"limit_mib"`
	// Attack is the attackers' run (closed loop); Front the reader's.
	Attack *Window `json:"attack"`
	Front  *Window `json:"front"`
	// FrontBudget is the front page's budget in site.yaml.
	FrontBudgetMS float64 `json:"front_budget_ms"`
	RSSIdleKiB    int64   `json:"rss_idle_kib"`
	RSSPeakKiB    int64   `json:"rss_peak_kib"`
	// RSSAfterKiB is RSS memoryRest after the attack ended.
	RSSAfterKiB int64 `json:"rss_after_kib"`
	// Held: peak RSS under LimitMiB, and the front page within its
	// budget at p99 with no 5xx and no transport error.
	Held bool `json:"held"`
}

// Defaults of the memory scenario, as the probe that found the weakness
// ran it.
const (
	memoryConcurrency = 16
	memoryMaxSize     = 18000
	memoryFrontRate   = 10
	memoryRest        = 10 * time.Second
	frontBudget       = 300 * time.Millisecond
	// Caches of the composer's defaults (-l1-mb 64, -stitch-mb 16).
	memoryL1MiB, memoryStitchMiB = 64, 16
)

// memory runs the scenario for d against a composer with its default
// settings (no -max-pages, no Redis: the configuration the probe found
// exhaustible), the feed's latency 1 ms.
func (e *env) memory(ctx context.Context, d time.Duration) (*Memory, error) {
	args := []string{"-feed-latency", "1ms", "-feed-slow-every", "0", "-l1-mb", strconv.Itoa(memoryL1MiB), "-stitch-mb", strconv.Itoa(memoryStitchMiB)}
	cp, err := e.startComposer(ctx, "memory", append(args, e.o.memoryArgs...)...)
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	client := loadClient()
	defer client.CloseIdleConnections()
	front := cp.base + "/"
	if _, err := windowRun(ctx, client, front, 20, time.Second, 0); err != nil { // warm
		return nil, err
	}
	res := &Memory{Concurrency: memoryConcurrency, MaxSize: memoryMaxSize, L1MiB: memoryL1MiB, StitchMiB: memoryStitchMiB,
		LimitMiB: memoryL1MiB + memoryStitchMiB + 256, FrontBudgetMS: loadtest.Millis(frontBudget)}
	if m, err := harness.ReadMem(cp.PID()); err == nil {
		res.RSSIdleKiB = m.RSS
	}
	urls := memoryURLs(cp)
	smp := startSampler(ctx, cp, time.Now(), 100*time.Millisecond)
	t0 := time.Now()
	attack, fw, err := memoryLoad(ctx, urls, front, d)
	res.Seconds = round1(time.Since(t0).Seconds())
	smp.stop()
	if err != nil {
		return nil, err
	}
	res.Attack, res.Front = attack, fw
	res.RSSPeakKiB = smp.maxRSS
	select {
	case <-time.After(memoryRest):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if m, err := harness.ReadMem(cp.PID()); err == nil {
		res.RSSAfterKiB = m.RSS
	}
	res.Held = res.RSSPeakKiB <= res.LimitMiB<<10 && fw.TTLB.P99 <= frontBudget && fw.fiveXX() == 0 && fw.Transport == 0
	return res, nil
}

// memoryURLs are the attackers' URLs: scores pages of random sizes, drawn
// once with a fixed seed, so that the run is the same every time
// (loadtest requests them round-robin).
func memoryURLs(cp *composerProc) []string {
	rng := rand.New(rand.NewPCG(20, 2))
	urls := make([]string, 4096)
	for i := range urls {
		urls[i] = cp.pageURL(1 + rng.IntN(memoryMaxSize))
	}
	return urls
}

// memoryLoad runs the attackers on urls (closed loop) and the reader of
// front (at memoryFrontRate) together for d, and returns their windows.
func memoryLoad(ctx context.Context, urls []string, front string, d time.Duration) (attack, fw *Window, err error) {
	type result struct {
		w   *Window
		err error
	}
	attackc := make(chan result, 1)
	go func() {
		rep, err := loadtest.Run(ctx, loadtest.Config{URLs: urls, Concurrency: memoryConcurrency, Duration: d,
			MaxRequests: 1 << 20, Client: loadClient()})
		if err != nil {
			attackc <- result{err: err}
			return
		}
		attackc <- result{w: windowOf(0, rep)}
	}()
	fw, ferr := windowRun(ctx, loadClient(), front, memoryFrontRate, d, 0)
	a := <-attackc
	if ferr != nil {
		return nil, nil, ferr
	}
	if a.err != nil {
		return nil, nil, a.err
	}
	return a.w, fw, nil
}
