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
// Its steps are those of the package's doc, in order; the first that fails
// ends the cell, its error in Err.
func (s *suite) cell(ctx context.Context, runIndex int, state string, size int) (c cell) {
	c = cell{Run: runIndex + 1, State: state, Size: size}
	fail := func(err error) cell {
		c.Err = err.Error()
		return c
	}
	name := fmt.Sprintf("%s-%d-run%d", state, size, runIndex+1)
	m := &measure{s: s, c: &c}

	var redisURL string
	if state == "redis" {
		rp, client, err := s.startRedis(ctx, name)
		if err != nil {
			return fail(err)
		}
		defer rp.Stop()
		defer client.Close()
		m.rclient = client
		redisURL = "redis://" + client.Options().Addr + "/0"
	}
	cp, base, err := s.startComposer(ctx, name, s.composerArgs(state, redisURL))
	if err != nil {
		return fail(err)
	}
	defer cp.Stop()
	m.cp = cp
	m.pageURL = base + pagePath + "?size=" + strconv.Itoa(size)
	m.cfg = loadtest.Config{
		URLs:        []string{m.pageURL},
		Concurrency: s.o.concurrency,
		MaxRequests: s.o.maxRequests,
	}

	steps := []func(context.Context) error{m.warmUp, m.floorAndTarget, m.checkComplete}
	if state == "cold" || state == "redis" {
		steps = append(steps, m.onePage)
	}
	if m.rclient != nil {
		steps = append(steps, m.bareMGET)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return fail(err)
		}
	}
	if mem, err := harness.ReadMem(cp.PID()); err == nil {
		c.HWMKiB = mem.HWM
	}
	return c
}

// startRedis starts a redis-server of the cell named name, its data and
// log in the suite's directory, and returns it with a client of it.
func (s *suite) startRedis(ctx context.Context, name string) (*harness.Proc, *redis.Client, error) {
	rdir := filepath.Join(s.dir, name+"-redis")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, nil, err
	}
	return harness.StartRedis(ctx, s.o.redisBin, rdir, filepath.Join(s.dir, name+"-redis.log"))
}

// measure is one cell being measured: its processes, its page and the
// shape of its load. Its steps write their figures into c.
type measure struct {
	s       *suite
	c       *cell
	rclient *redis.Client // the redis state's, else nil
	cp      *harness.Proc
	pageURL string
	cfg     loadtest.Config
}

// warmUp runs -warmup of load, not recorded, then reads the composer's
// idle RSS.
func (m *measure) warmUp(ctx context.Context) error {
	if m.s.o.warmup > 0 {
		w := m.cfg
		w.Duration = m.s.o.warmup
		w.MaxRequests = 0
		if _, err := loadtest.Run(ctx, w); err != nil {
			return err
		}
	}
	if mem, err := harness.ReadMem(m.cp.PID()); err == nil {
		m.c.RSSIdleKiB = mem.RSS
	}
	return nil
}

// floorAndTarget measures the floor and the target, alternating which
// goes first from run to run, and their throughputs' ratio.
func (m *measure) floorAndTarget(ctx context.Context) error {
	floor := func() error {
		f := m.cfg
		f.Duration = m.s.o.duration
		var err error
		m.c.Floor, err = runFloor(ctx, m.pageURL, f)
		return err
	}
	if err := alternate(m.c.Run-1, floor, func() error { return m.target(ctx) }); err != nil {
		return err
	}
	if m.c.Floor.Throughput > 0 {
		m.c.Ratio = m.c.Target.Throughput / m.c.Floor.Throughput
	}
	return nil
}

// target measures the composer for -duration, sampling its RSS and, in
// the redis state, counting the Redis commands of the measured requests.
func (m *measure) target(ctx context.Context) error {
	// A short unrecorded run, separate from the measured one so that
	// Redis commands are counted over measured requests only.
	w := m.cfg
	w.Duration, w.MaxRequests = 300*time.Millisecond, 0
	if _, err := loadtest.Run(ctx, w); err != nil {
		return err
	}
	if m.rclient != nil {
		time.Sleep(100 * time.Millisecond) // let write-backs of the warm-up land
	}
	t := m.cfg
	t.Duration = m.s.o.duration
	cmds, err := m.countCommands(ctx, func() error {
		sampler := harness.SampleRSS(m.cp.PID(), 20*time.Millisecond)
		var err error
		m.c.Target, err = loadtest.Run(ctx, t)
		m.c.RSSPeakKiB = sampler.Stop()
		return err
	})
	if err != nil || m.rclient == nil {
		return err
	}
	m.c.RedisCmds = cmds
	var total int64
	for _, n := range cmds {
		total += n
	}
	if m.c.Target.Requests > 0 {
		m.c.RedisCmdsPerPage = float64(total) / float64(m.c.Target.Requests)
	}
	return nil
}

// checkComplete runs -check of load on ?debug=1, every page expected to
// hold all its includes (none with -check 0).
func (m *measure) checkComplete(ctx context.Context) error {
	if m.s.o.check <= 0 {
		return nil
	}
	u, _ := url.Parse(m.pageURL)
	q := u.Query()
	q.Set("debug", "1")
	u.RawQuery = q.Encode()
	ch := m.cfg
	ch.URLs = []string{u.String()}
	ch.Duration = m.s.o.check
	ch.ExpectIncludes = m.c.Size + extraIncludes
	var err error
	m.c.Check, err = loadtest.Run(ctx, ch)
	return err
}

// onePage measures the target at concurrency 1 (one page's own latency)
// and, in the redis state, counts its Redis commands.
func (m *measure) onePage(ctx context.Context) error {
	c1 := m.cfg
	c1.Concurrency = 1
	c1.Duration = m.s.o.duration
	cmds, err := m.countCommands(ctx, func() error {
		var err error
		m.c.C1, err = loadtest.Run(ctx, c1)
		return err
	})
	if err != nil || m.rclient == nil {
		return err
	}
	m.c.RedisCmdsC1 = cmds
	return nil
}

// bareMGET times the bare MGET of the page's keys, at -c and at
// concurrency 1 (redis state).
func (m *measure) bareMGET(ctx context.Context) error {
	l1, l2, err := pageKeys(ctx, m.rclient)
	if err != nil {
		return err
	}
	m.c.RedisKeys = len(l1) + len(l2)
	if len(l2) > 0 {
		o := m.s.o
		mg := benchMGET(ctx, m.rclient, l1, l2, o.concurrency, o.duration, o.maxRequests)
		m.c.MGET = &mg
		mg1 := benchMGET(ctx, m.rclient, l1, l2, 1, o.duration, o.maxRequests)
		m.c.MGET1 = &mg1
	}
	return nil
}

// countCommands runs run and returns the Redis commands sent meanwhile, by
// name; without Redis it only runs run, and returns nil.
func (m *measure) countCommands(ctx context.Context, run func() error) (map[string]int64, error) {
	if m.rclient == nil {
		return nil, run()
	}
	before, err := commandStats(ctx, m.rclient)
	if err != nil {
		return nil, err
	}
	if err := run(); err != nil {
		return nil, err
	}
	after, err := commandStats(ctx, m.rclient)
	if err != nil {
		return nil, err
	}
	return statsDelta(before, after), nil
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
