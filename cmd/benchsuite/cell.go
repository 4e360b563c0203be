// One cell of the scores matrix: a state × size × run, its floor and
// target alternated, its completeness pass and its extra figures.

package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// cell is the figures of one state × size × run.
type cell struct {
	Run   int    `json:"run"`
	State string `json:"state"`
	Size  int    `json:"size"`
	Err   string `json:"error,omitempty"`

	Floor  *loadtest.Report `json:"floor,omitempty"`
	Target *loadtest.Report `json:"target,omitempty"`
	// Ratio is Target.Throughput / Floor.Throughput.
	Ratio float64 `json:"target_to_floor_throughput"`
	// Check is the ?debug=1 completeness pass.
	Check *loadtest.Report `json:"check,omitempty"`
	// C1 is the target at concurrency 1 (cold and redis states).
	C1 *loadtest.Report `json:"c1,omitempty"`

	// Redis state only.
	RedisCmds        map[string]int64 `json:"redis_cmds,omitempty"`
	RedisCmdsPerPage float64          `json:"redis_cmds_per_page,omitempty"`
	RedisKeys        int              `json:"redis_keys,omitempty"`
	// RedisCmdsC1 counts the commands of the C1 run.
	RedisCmdsC1 map[string]int64 `json:"redis_cmds_c1,omitempty"`
	MGET        *mgetResult      `json:"mget,omitempty"`
	MGET1       *mgetResult      `json:"mget_c1,omitempty"`

	// The composer's VmRSS after the warm-up and at its peak during the
	// target run, and VmHWM at the end of the cell, in KiB.
	RSSIdleKiB int64 `json:"rss_idle_kib"`
	RSSPeakKiB int64 `json:"rss_peak_kib"`
	HWMKiB     int64 `json:"hwm_kib"`
}

// cell measures one state × size, starting and stopping its own processes.
func (s *suite) cell(ctx context.Context, runIndex int, state string, size int) (c cell) {
	c = cell{Run: runIndex + 1, State: state, Size: size}
	fail := func(err error) cell {
		c.Err = err.Error()
		return c
	}
	name := fmt.Sprintf("%s-%d-run%d", state, size, runIndex+1)

	var (
		rclient  *redis.Client
		redisURL string
	)
	if state == "redis" {
		rdir := filepath.Join(s.dir, name+"-redis")
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return fail(err)
		}
		rp, client, err := harness.StartRedis(ctx, s.o.redisBin, rdir, filepath.Join(s.dir, name+"-redis.log"))
		if err != nil {
			return fail(err)
		}
		defer rp.Stop()
		defer client.Close()
		rclient = client
		redisURL = "redis://" + client.Options().Addr + "/0"
	}

	cp, base, err := s.startComposer(ctx, name, s.composerArgs(state, redisURL))
	if err != nil {
		return fail(err)
	}
	defer cp.Stop()
	pageURL := base + pagePath + "?size=" + strconv.Itoa(size)

	cfg := loadtest.Config{
		URLs:        []string{pageURL},
		Concurrency: s.o.concurrency,
		MaxRequests: s.o.maxRequests,
	}
	// 1. Warm-up.
	if s.o.warmup > 0 {
		w := cfg
		w.Duration = s.o.warmup
		w.MaxRequests = 0
		if _, err := loadtest.Run(ctx, w); err != nil {
			return fail(err)
		}
	}
	if m, err := harness.ReadMem(cp.PID()); err == nil {
		c.RSSIdleKiB = m.RSS
	}

	// 2. Floor and target, alternating which goes first.
	floor := func() error {
		f := cfg
		f.Duration = s.o.duration
		c.Floor, err = runFloor(ctx, pageURL, f)
		return err
	}
	target := func() error {
		// A short unrecorded run, separate from the measured one so that
		// Redis commands are counted over measured requests only.
		w := cfg
		w.Duration, w.MaxRequests = 300*time.Millisecond, 0
		if _, err := loadtest.Run(ctx, w); err != nil {
			return err
		}
		var before map[string]int64
		if rclient != nil {
			time.Sleep(100 * time.Millisecond) // let write-backs of the warm-up land
			if before, err = commandStats(ctx, rclient); err != nil {
				return err
			}
		}
		t := cfg
		t.Duration = s.o.duration
		sampler := harness.SampleRSS(cp.PID(), 20*time.Millisecond)
		c.Target, err = loadtest.Run(ctx, t)
		c.RSSPeakKiB = sampler.Stop()
		if err != nil {
			return err
		}
		if rclient != nil {
			after, err := commandStats(ctx, rclient)
			if err != nil {
				return err
			}
			c.RedisCmds = statsDelta(before, after)
			var total int64
			for _, n := range c.RedisCmds {
				total += n
			}
			if c.Target.Requests > 0 {
				c.RedisCmdsPerPage = float64(total) / float64(c.Target.Requests)
			}
		}
		return nil
	}
	if err := alternate(runIndex, floor, target); err != nil {
		return fail(err)
	}
	if c.Floor.Throughput > 0 {
		c.Ratio = c.Target.Throughput / c.Floor.Throughput
	}

	// 3. Completeness under ?debug=1.
	if s.o.check > 0 {
		u, _ := url.Parse(pageURL)
		q := u.Query()
		q.Set("debug", "1")
		u.RawQuery = q.Encode()
		ch := cfg
		ch.URLs = []string{u.String()}
		ch.Duration = s.o.check
		ch.ExpectIncludes = size + extraIncludes
		if c.Check, err = loadtest.Run(ctx, ch); err != nil {
			return fail(err)
		}
	}

	// 4. One page's own latency.
	if state == "cold" || state == "redis" {
		c1 := cfg
		c1.Concurrency = 1
		c1.Duration = s.o.duration
		var before map[string]int64
		if rclient != nil {
			if before, err = commandStats(ctx, rclient); err != nil {
				return fail(err)
			}
		}
		if c.C1, err = loadtest.Run(ctx, c1); err != nil {
			return fail(err)
		}
		if rclient != nil {
			after, err := commandStats(ctx, rclient)
			if err != nil {
				return fail(err)
			}
			c.RedisCmdsC1 = statsDelta(before, after)
		}
	}

	// 5. The bare MGET of the same keys.
	if rclient != nil {
		l1, l2, err := pageKeys(ctx, rclient)
		if err != nil {
			return fail(err)
		}
		c.RedisKeys = len(l1) + len(l2)
		if len(l2) > 0 {
			m := benchMGET(ctx, rclient, l1, l2, s.o.concurrency, s.o.duration, s.o.maxRequests)
			c.MGET = &m
			m1 := benchMGET(ctx, rclient, l1, l2, 1, s.o.duration, s.o.maxRequests)
			c.MGET1 = &m1
		}
	}
	if m, err := harness.ReadMem(cp.PID()); err == nil {
		c.HWMKiB = m.HWM
	}
	return c
}

// runFloor measures the floor of pageURL: its bytes, fetched once, served
// from memory by loadtest.FloorServer and driven as cfg says, after 300 ms
// of unrecorded warm-up, pages not kept.
func runFloor(ctx context.Context, pageURL string, cfg loadtest.Config) (*loadtest.Report, error) {
	page, err := fetchReference(ctx, pageURL, time.Second)
	if err != nil {
		return nil, err
	}
	srv := loadtest.FloorServer(page)
	defer srv.Close()
	cfg.URLs = []string{srv.URL + page.RequestURI}
	cfg.Warmup, cfg.KeepPages = 300*time.Millisecond, false
	return loadtest.Run(ctx, cfg)
}

// alternate runs floor and target, in that order in even runs and the
// other way in odd ones, so that their ratio does not favour either; it
// stops at the first error.
func alternate(run int, floor, target func() error) error {
	steps := []func() error{floor, target}
	if run%2 == 1 {
		steps[0], steps[1] = target, floor
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// checkErrors is the number of failed pages in the completeness pass, or 0
// without one.
func checkErrors(c *cell) int {
	if c.Check == nil {
		return 0
	}
	return c.Check.Errors
}
