package launch

import (
	"math"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestNextLimit(t *testing.T) {
	const lo, hi, target = 128, 16384, 40 * time.Millisecond
	ms := time.Millisecond
	for _, tc := range []struct {
		name            string
		limit, inflight int
		queued          bool
		p90             time.Duration
		want            int
	}{
		{"no limit, keeping up", NoLimit, 5000, false, 2 * ms, NoLimit},
		{"no limit, over target: 3/4 of what is in flight", NoLimit, 4000, false, 50 * ms, 3000},
		{"over target: 3/4 of the limit when at it", 1000, 1000, true, 41 * ms, 750},
		{"over target: 3/4 of the calls when under the limit", 1000, 400, true, 41 * ms, 300},
		{"over target: never under lo", 150, 150, true, time.Second, lo},
		{"at the target: unchanged", 1000, 1000, true, target, 1000},
		{"between half and the target: unchanged", 1000, 1000, true, 30 * ms, 1000},
		{"under half, calls queued: a quarter more", 1000, 1000, true, 20 * ms, 1251},
		{"under a quarter, calls queued: doubled", 1000, 1000, true, 10 * ms, 2000},
		{"quiet but nothing queued: unchanged", 1000, 10, false, 0, 1000},
		{"growing to hi: no limit", 9000, 9000, true, 0, NoLimit},
		{"a quarter more reaches hi: no limit", 14000, 14000, true, 20 * ms, NoLimit},
	} {
		if got := nextLimit(tc.limit, tc.inflight, tc.queued, tc.p90, target, lo, hi); got != tc.want {
			t.Errorf("%s: nextLimit(%d, %d, %v, %v) = %d, want %d", tc.name, tc.limit, tc.inflight, tc.queued, tc.p90, got, tc.want)
		}
	}
}

func TestPercentileOfNewCounts(t *testing.T) {
	h := &metrics.Float64Histogram{
		Buckets: []float64{0, 0.001, 0.01, 0.1, math.Inf(1)},
		Counts:  []uint64{100, 5, 5, 0},
	}
	prev := []uint64{100, 5, 5, 0}
	if got := percentile(h, prev, 0.9); got != 0 {
		t.Errorf("nothing new: %v, want 0", got)
	}
	// 10 new: 8 under 1 ms, 1 under 10 ms, 1 under 100 ms. The 9th is
	// the 90th percentile: under 10 ms.
	h.Counts = []uint64{108, 6, 6, 0}
	if got := percentile(h, prev, 0.9); got != 10*time.Millisecond {
		t.Errorf("p90 = %v, want 10ms (the old counts are not counted again)", got)
	}
	// The unbounded bucket gives its lower bound.
	h.Counts = []uint64{100, 5, 5, 10}
	if got := percentile(h, prev, 0.9); got != 100*time.Millisecond {
		t.Errorf("p90 in the last bucket = %v, want 100ms", got)
	}
}

// TestNewLimitReadsTheRuntime: the runtime reports its scheduling
// latencies, so the limit adapts by default and is off when asked.
func TestNewLimitReadsTheRuntime(t *testing.T) {
	var gauge atomic.Int64
	a := NewLimit(0, 16384, &gauge)
	if a == nil {
		t.Fatal("no adaptive limit by default")
	}
	if a.target != DefaultSchedTarget || a.lo < limitPerProc || a.hi != 16384 {
		t.Errorf("target %v, lo %d, hi %d", a.target, a.lo, a.hi)
	}
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { time.Sleep(time.Millisecond) })
	}
	wg.Wait()
	if d := a.read(); d < 0 || d > time.Minute {
		t.Errorf("scheduling latency p90 %v", d)
	}
	if NewLimit(-1, 16384, &gauge) != nil {
		t.Error("a negative target still adapts")
	}
}

// TestLimitFollowsSchedulingLatency: when goroutines wait longer than the
// target to run, the next call to start lowers the limit to three
// quarters of the calls in flight and the queue holds the rest; once the
// latency is low again and calls wait, the limit grows and as many queued
// calls start at once. The gauge follows the limit.
func TestLimitFollowsSchedulingLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var gauge atomic.Int64
		gauge.Store(1000)
		a := NewLimit(0, 1000, &gauge)
		a.lo = 4
		var latency atomic.Int64
		a.read = func() time.Duration { return time.Duration(latency.Load()) }
		r := newRig(NoLimit, a)
		ran := func() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.ran) }

		r.start(0, 40, nil)
		synctest.Wait()
		if got := ran(); got != 40 {
			t.Fatalf("%d of 40 calls started with no limit", got)
		}

		// A busy window: the next call to start (after the window) cuts
		// the limit to 30, so the 20 calls placed then wait.
		latency.Store(int64(100 * time.Millisecond))
		time.Sleep(Window)
		r.start(100, 1, nil) // starts, and adapts
		synctest.Wait()
		r.start(200, 20, nil)
		synctest.Wait()
		if lim, _ := r.state(); ran() != 41 || lim != 30 {
			t.Fatalf("%d calls started, limit %d; want 41 and 30 (3/4 of the 40 in flight)", ran(), lim)
		}
		if n := gauge.Load(); n != 30 {
			t.Errorf("gauge %d, want 30", n)
		}

		// A quiet window with calls waiting: the limit doubles (to 60) at
		// the next start — an urgent one's, as the queue holds the others
		// — and queued calls start up to it: 18, 60 in flight with the
		// urgent one, the last 3 still queued.
		latency.Store(int64(time.Millisecond))
		time.Sleep(Window)
		r.start(300, 1, nil)
		synctest.Wait()
		if got := ran(); got != 41 {
			t.Fatalf("%d calls started before the urgent one, want 41 (the new one queues)", got)
		}
		r.start(400, 1, func(t *task) { t.urgent = true })
		synctest.Wait()
		if lim, q := r.state(); ran() != 60 || lim != 60 || q != 3 {
			t.Errorf("%d calls started, limit %d, %d queued; want 60, 60 and 3", ran(), lim, q)
		}
		if n := gauge.Load(); n != 60 {
			t.Errorf("gauge %d, want 60", n)
		}
		r.finish(t)
	})
}

// TestGraceOf: a call's grace is the recent p99 lateness, and at least
// busyGrace while the run queue is longer than the launcher's room.
func TestGraceOf(t *testing.T) {
	for _, tc := range []struct {
		p99      time.Duration
		runnable uint64
		want     time.Duration
	}{
		{0, 0, 0},
		{20 * time.Microsecond, 3, 20 * time.Microsecond},
		{20 * time.Microsecond, busyRunnable * 2, 20 * time.Microsecond},
		{20 * time.Microsecond, busyRunnable*2 + 1, busyGrace},
		{30 * time.Millisecond, 0, 30 * time.Millisecond},
		{30 * time.Millisecond, 1000, 30 * time.Millisecond},
	} {
		if got := graceOf(tc.p99, tc.runnable, 2); got != tc.want {
			t.Errorf("graceOf(%v, %d runnable, 2 procs) = %v, want %v", tc.p99, tc.runnable, got, tc.want)
		}
	}
}

// TestLatenessReadsTheRuntime: Lateness reads the runtime (at most once
// every lateEvery) and gives a sane figure; a nil Limit gives none.
func TestLatenessReadsTheRuntime(t *testing.T) {
	var gauge atomic.Int64
	a := NewLimit(0, 16384, &gauge)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { time.Sleep(time.Millisecond) })
	}
	wg.Wait()
	now := time.Now()
	if d := a.Lateness(now); d < 0 || d > time.Minute {
		t.Errorf("lateness %v", d)
	}
	if at := a.late.at.Load(); at != now.UnixNano() {
		t.Errorf("read at %d, want %d", at, now.UnixNano())
	}
	a.Lateness(now.Add(lateEvery / 2))
	if at := a.late.at.Load(); at != now.UnixNano() {
		t.Error("read again within lateEvery")
	}
	if (*Limit)(nil).Lateness(now) != 0 {
		t.Error("a nil Limit gives grace")
	}
}
