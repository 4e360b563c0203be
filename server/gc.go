package server

import (
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The garbage collector's pace. Go collects when the heap has grown by
// GOGC percent (100) of what the last collection found live. A composer's
// live heap is small — its in-process tier, parsed pages, requests in
// flight — while every page read from Redis allocates about 1 MB (2,000
// values and their entries), so with a small tier (or none) the collector
// ran every few pages and took a fifth of the CPU. The tuner lets the heap
// grow by at least the headroom (-gc-headroom-mb, 64 MiB) before a
// collection: the goal is live + max(live, headroom), i.e. Go's own
// GOGC=100 once the live heap is larger than the headroom. Measured on the
// 2,000-include page read from Redis at concurrency 16, alternating: 756–846
// req/s with Go's pace, 904–1,055 with 64 MiB of headroom (128 and 256 MiB
// bought no more); peak RSS 64 → 120 MiB (BENCHMARKS.md).
//
// An operator's GOGC (the environment variable) wins: the tuner does not
// start. GOMEMLIMIT, if set, still bounds the heap as usual.

// gcTick is how often the tuner looks at the live heap.
const gcTick = 100 * time.Millisecond

// minLiveHeap is the live heap assumed when less is live: Go's own
// minimum heap goal is 4 MiB, and before the first collection the live
// heap reads 0. Without the floor the percentage would be unbounded, and a
// heap that is never collected never has its live size measured again.
const minLiveHeap = 4 << 20

const liveHeapMetric = "/gc/heap/live:bytes"

// gcPercent is the GOGC that makes the heap goal live + max(live, headroom).
func gcPercent(live, headroom uint64) int {
	live = max(live, minLiveHeap)
	headroom = min(headroom, 1<<50) // no overflow below
	return int(max(headroom*100/live, 100))
}

// startGCTuner starts the tuner with headroom in bytes and returns its
// stop function, which restores Go's default pace and waits for the tuner
// to end. With headroom 0, or GOGC set, it does nothing.
func startGCTuner(headroom uint64, gogcSet bool, log *slog.Logger) (stop func()) {
	if headroom == 0 || gogcSet {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	current := 100
	tune := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		p := gcPercent(sample[0].Value.Uint64(), headroom)
		// Small moves are not worth a call into the runtime.
		if p*10 < current*9 || p*10 > current*11 {
			debug.SetGCPercent(p)
			current = p
		}
	}
	tune()
	go func() {
		defer close(done)
		t := time.NewTicker(gcTick)
		defer t.Stop()
		for {
			select {
			case <-quit:
				debug.SetGCPercent(100)
				return
			case <-t.C:
				tune()
			}
		}
	}()
	log.Debug("composer: garbage collector headroom", "bytes", headroom)
	return func() {
		close(quit)
		<-done
	}
}

// The memory limit. A collection paced by the live heap lets the heap
// grow to about twice the live heap, and the runtime gives freed memory
// back to the system slowly: under clients asking for pages of thousands
// of includes at random sizes, the live heap (the caches, the results
// being made, the pages in flight) peaked near 330 MiB and RSS went past
// 750 MiB, and stayed there once they left. The composer bounds what it
// keeps (-l1-mb, -stitch-mb) and what it makes (-compose-mb, -max-pages),
// so it also sets the runtime's soft memory limit from them: the
// collector works harder as the heap nears it, and returns memory to the
// system to stay under it. An operator's GOMEMLIMIT wins.

// memoryHeadroom is the memory limit's room for everything but the caches
// and the results being made: pages in flight, their buffers and
// connections, the runtime's own.
const memoryHeadroom = 128 << 20

// memoryLimit returns the soft memory limit for caches (-l1-mb and
// -stitch-mb) and compose (-compose-mb) bytes, or limitMB when it is
// given (-memory-limit-mb); 0 means none.
func memoryLimit(caches, compose, limitMB int64) int64 {
	switch {
	case limitMB > 0:
		return limitMB << 20
	case limitMB < 0:
		return 0
	}
	return caches + compose + memoryHeadroom
}

// setMemoryLimit sets the runtime's soft memory limit to limit bytes
// (nothing when 0, or when GOMEMLIMIT is set) and returns a function
// restoring the previous one.
func setMemoryLimit(limit int64, gomemlimitSet bool, log *slog.Logger) (restore func()) {
	if limit <= 0 || gomemlimitSet {
		return func() {}
	}
	prev := debug.SetMemoryLimit(limit)
	log.Debug("composer: soft memory limit", "bytes", limit)
	return func() { debug.SetMemoryLimit(prev) }
}
