package composer

import (
	"context"
	"math"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
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
		{"no limit, keeping up", noLimit, 5000, false, 2 * ms, noLimit},
		{"no limit, over target: 3/4 of what is in flight", noLimit, 4000, false, 50 * ms, 3000},
		{"over target: 3/4 of the limit when at it", 1000, 1000, true, 41 * ms, 750},
		{"over target: 3/4 of the calls when under the limit", 1000, 400, true, 41 * ms, 300},
		{"over target: never under lo", 150, 150, true, time.Second, lo},
		{"at the target: unchanged", 1000, 1000, true, target, 1000},
		{"between half and the target: unchanged", 1000, 1000, true, 30 * ms, 1000},
		{"under half, calls queued: a quarter more", 1000, 1000, true, 20 * ms, 1251},
		{"under a quarter, calls queued: doubled", 1000, 1000, true, 10 * ms, 2000},
		{"quiet but nothing queued: unchanged", 1000, 10, false, 0, 1000},
		{"growing to MaxInFlight: no limit", 9000, 9000, true, 0, noLimit},
		{"a quarter more reaches MaxInFlight: no limit", 14000, 14000, true, 20 * ms, noLimit},
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

// TestNewCallLimitReadsTheRuntime: the runtime reports its scheduling
// latencies, so the limit adapts by default and is off when asked.
func TestNewCallLimitReadsTheRuntime(t *testing.T) {
	var st Stats
	a := newCallLimit(0, 16384, &st)
	if a == nil {
		t.Fatal("no adaptive limit by default")
	}
	if a.target != defaultSchedTarget || a.lo < limitPerProc || a.hi != 16384 {
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
	if newCallLimit(-1, 16384, &st) != nil {
		t.Error("a negative target still adapts")
	}
}

// blockingCounter is fragment f with a required id whose calls block until
// release is closed, recording how many ran at once and in what order.
func blockingCounter() (s *Spec, release chan struct{}, peak *atomic.Int32, order func() []string) {
	var running atomic.Int32
	peak = new(atomic.Int32)
	release = make(chan struct{})
	var mu sync.Mutex
	var ids []string
	s = static("f", "")
	s.Defaults.Timeout = time.Hour
	s.Params = []ParamSpec{{Name: "id", Required: true}}
	s.Render = func(ctx context.Context, p Params) (templ.Component, error) {
		notePeak(peak, running.Add(1))
		defer running.Add(-1)
		mu.Lock()
		ids = append(ids, p.Get("id"))
		mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return text("<b>" + p.Get("id") + "</b>"), nil
	}
	return s, release, peak, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ids...)
	}
}

// TestCallLimitHoldsCallsBack: with a limit of two, of six calls that
// block two run and the others wait, each starting as a call returns; a
// primary passes the limit.
func TestCallLimitHoldsCallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, release, peak, order := blockingCounter()
		c := newTestComposer(t, testSite([]*Spec{s}, time.Second), Options{SchedTarget: -1})
		l := c.launcher
		l.limit.Store(2)
		done := make(chan error, 7)
		soon := time.Now().Add(time.Minute)
		c.callAll(joinStarts(t, c, 0, []time.Time{soon, soon, soon, soon, soon, soon}, done))
		synctest.Wait()
		if got := order(); len(got) != 2 {
			t.Fatalf("calls started %v with a limit of 2", got)
		}
		p := joinStarts(t, c, 6, []time.Time{soon}, done)
		p[0].primary = true
		c.callAll(p)
		synctest.Wait()
		if got := order(); len(got) != 3 || got[2] != "6" {
			t.Fatalf("calls started %v: the primary did not pass the limit", got)
		}
		close(release)
		for range 7 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if got := order(); len(got) != 7 || !sameSet(got[:2], "0", "1") || !sameSet(got[3:], "2", "3", "4", "5") {
			t.Errorf("calls started %v, want 0 and 1, the primary, then the queued ones", got)
		}
		if p := peak.Load(); p != 3 {
			t.Errorf("%d calls ran at once, want 3 (two under the limit and the primary)", p)
		}
		if n := l.inflight.Load(); n != 0 || l.waiting != 0 {
			t.Errorf("inflight %d, waiting %d after every call returned", n, l.waiting)
		}
	})
}

// TestCallLimitFollowsSchedulingLatency: when goroutines wait longer than
// the target to run, the next call to start lowers the limit to three
// quarters of the calls in flight and the queue holds the rest; once the
// latency is low again and calls wait, the limit grows and as many queued
// calls start at once.
func TestCallLimitFollowsSchedulingLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, release, _, order := blockingCounter()
		c := newTestComposer(t, testSite([]*Spec{s}, time.Second), Options{MaxInFlight: 1000})
		l := c.launcher
		a := l.adapt
		a.lo = 4
		var latency atomic.Int64
		a.read = func() time.Duration { return time.Duration(latency.Load()) }
		done := make(chan error, 100)
		soon := time.Now().Add(time.Minute)
		untils := func(n int) []time.Time {
			u := make([]time.Time, n)
			for i := range u {
				u[i] = soon
			}
			return u
		}
		c.callAll(joinStarts(t, c, 0, untils(40), done))
		synctest.Wait()
		if got := len(order()); got != 40 {
			t.Fatalf("%d of 40 calls started with no limit", got)
		}
		if n := c.Stats().CallLimit.Load(); n != 1000 {
			t.Errorf("Stats.CallLimit %d, want MaxInFlight (1000) before any window", n)
		}

		// A busy window: the next call to start (after the window) cuts
		// the limit to 30, so the 20 calls placed then wait.
		latency.Store(int64(100 * time.Millisecond))
		time.Sleep(limitWindow)
		c.callAll(joinStarts(t, c, 100, untils(1), done)) // starts, and adapts
		synctest.Wait()
		c.callAll(joinStarts(t, c, 200, untils(20), done))
		synctest.Wait()
		got := len(order())
		if lim, _ := l.state(); got != 41 || lim != 30 {
			t.Fatalf("%d calls started, limit %d; want 41 and 30 (3/4 of the 40 in flight)", got, lim)
		}
		if n := c.Stats().CallLimit.Load(); n != 30 {
			t.Errorf("Stats.CallLimit %d, want 30", n)
		}

		// A quiet window with calls waiting: the limit doubles (to 60) at
		// the next start — a primary's, as the queue holds the others —
		// and queued calls start up to it: 18, 60 in flight with the
		// primary, the last 3 still queued.
		latency.Store(int64(time.Millisecond))
		time.Sleep(limitWindow)
		c.callAll(joinStarts(t, c, 300, untils(1), done))
		synctest.Wait()
		if got := len(order()); got != 41 {
			t.Fatalf("%d calls started before the primary, want 41 (the new one queues)", got)
		}
		p := joinStarts(t, c, 400, untils(1), done)
		p[0].primary = true
		c.callAll(p)
		synctest.Wait()
		got = len(order())
		if lim, q := l.state(); got != 60 || lim != 60 || q != 3 {
			t.Errorf("%d calls started, limit %d, %d queued; want 60, 60 and 3", got, lim, q)
		}
		close(release)
		for range 63 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if _, q := l.state(); l.inflight.Load() != 0 || q != 0 {
			t.Errorf("inflight %d, queued %d after every call returned", l.inflight.Load(), q)
		}
	})
}

// sameSet reports whether got holds exactly want, in any order.
func sameSet(got []string, want ...string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

// state returns l's limit and the number of starts it queues.
func (l *launcher) state() (limit, queued int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit.Load()), len(l.queue) - l.head
}

// notePeak raises peak to n if n is higher.
func notePeak(peak *atomic.Int32, n int32) {
	for {
		old := peak.Load()
		if n <= old || peak.CompareAndSwap(old, n) {
			return
		}
	}
}
