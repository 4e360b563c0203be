package launch

import (
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Limit adapts a Launcher's limit of calls in flight to how long the
// process's goroutines wait to run.
//
// The launcher keeps few call goroutines waiting for their first slice,
// but a call that waits on its backend is in flight without counting
// there, and wakes up later wanting the processor again. A cold
// 10,000-include page puts 10,000 such calls in flight at once; 16 of them
// on two cores wake 100,000 goroutines every few milliseconds, and every
// goroutine the pages themselves need — a writer, a primary's call, a
// connection with a new request — waits behind them. Pages then overran
// their budget by as much as the run queue was long (p99 ~550 ms for a
// 400 ms budget), and the scheduler's own work on the long queues took
// CPU the calls needed: fewer scores reached the pages than the machine
// could compute.
//
// The signal is the Go runtime's own (runtime/metrics
// "/sched/latencies:seconds": how long goroutines were runnable before
// they ran), read at most once a window by a call as it starts. When its
// 90th percentile over the window is above the target, the limit drops to
// three quarters of the calls then in flight; when it is well below and
// calls wait in the queue, the limit grows. Calls over the limit wait in
// the launcher's queue (a pointer each) and are shed there once every
// include waiting for them has given up. Urgent starts pass the limit, as
// they pass the queue.
//
// A limiter of the request round trip (Netflix's concurrency-limits and
// its Go ports) does not fit here: a call's round trip is its backend's
// latency, a few milliseconds or a hung two seconds, and says nothing of
// whether this process's processors keep up.
type Limit struct {
	target time.Duration
	lo, hi int
	due    atomic.Int64 // UnixNano at which the next window ends
	gauge  *atomic.Int64

	mu     sync.Mutex // the window's reader
	read   func() time.Duration
	sample []metrics.Sample
	prev   []uint64

	late lateness
}

// lateness is the reading of the scheduling latency behind
// Limit.Lateness: its own, more often than the window's, and of a higher
// percentile.
type lateness struct {
	at, p99 atomic.Int64 // when it was last read (UnixNano), and what it read

	mu     sync.Mutex
	sample []metrics.Sample
	prev   []uint64
}

const (
	// lateEvery is how often Lateness reads the runtime, at most.
	lateEvery = 2 * time.Millisecond
	// busyRunnable is how many goroutines per processor, ready to run and
	// not running, make a run queue long enough to earn a call grace
	// (busyGrace at least) whatever the latency of those that ran
	// lately: as many as the launcher lets call goroutines wait to run.
	// A goroutine that waited long shows in the histogram only once it
	// has run: when a cold 10,000-include page's last calls passed their
	// deadlines, over a hundred goroutines were often ready while the
	// goroutines that had run in the last 2 ms had waited under 1 ms.
	busyRunnable = WaitingPerProc
	busyGrace    = 5 * time.Millisecond
)

const (
	// Window is how often the scheduling latency is read.
	Window = 50 * time.Millisecond
	// DefaultSchedTarget is the target NewLimit takes for 0: a fraction
	// of a page's budget (hundreds of milliseconds) and of a fragment's
	// timeout (tens), well above a quiet machine's (microseconds) and a
	// busy but keeping-up one's (a few milliseconds).
	DefaultSchedTarget = 40 * time.Millisecond
	// limitPerProc is the lowest limit, per processor: enough calls in
	// flight to keep a processor busy while most of them wait on their
	// backends.
	limitPerProc   = 64
	schedLatencies = "/sched/latencies:seconds"
	schedRunnable  = "/sched/goroutines/runnable:goroutines"
)

// NoLimit is a Launcher's limit when it holds no call back.
const NoLimit = math.MaxInt

// NewLimit returns the adapter of a limit between limitPerProc per
// processor and hi (above which there is none), for a scheduling latency
// target (0: DefaultSchedTarget); it stores the limit in gauge (hi when
// there is none) as it changes. It returns nil when target is negative or
// the runtime does not report the latency.
func NewLimit(target time.Duration, hi int, gauge *atomic.Int64) *Limit {
	if target < 0 {
		return nil
	}
	if target == 0 {
		target = DefaultSchedTarget
	}
	a := &Limit{
		target: target,
		lo:     min(hi, limitPerProc*runtime.GOMAXPROCS(0)),
		hi:     hi,
		gauge:  gauge,
		sample: []metrics.Sample{{Name: schedLatencies}},
	}
	a.read = a.readSched
	metrics.Read(a.sample)
	if a.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	a.prev = append([]uint64(nil), a.sample[0].Value.Float64Histogram().Counts...)
	a.late.sample = []metrics.Sample{{Name: schedLatencies}, {Name: schedRunnable}}
	a.late.prev = append([]uint64(nil), a.prev...)
	return a
}

// Lateness returns how late the goroutines that ran lately (since the
// last reading, at most lateEvery ago) had waited to run, at the 99th
// percentile — at least busyGrace while the run queue is long (see
// busyRunnable): the grace of a call's deadline (see Context.Begin). It
// is 0 for a nil Limit.
//
// The window's p90 steers the limit; a call's grace needs what its own
// goroutine, ready and not yet run, may be waiting now, which shows in the
// tail: on a cold 10,000-include page at concurrency 1, the windows' p90
// was 1–6 ms while goroutines woken as the page was written ran 67–100 ms
// late (p99).
func (a *Limit) Lateness(now time.Time) time.Duration {
	if a == nil {
		return 0
	}
	l := &a.late
	if t := now.UnixNano(); t-l.at.Load() >= int64(lateEvery) && l.mu.TryLock() {
		l.p99.Store(int64(l.readSched()))
		l.at.Store(t)
		l.mu.Unlock()
	}
	return time.Duration(l.p99.Load())
}

// readSched returns the 99th percentile of the scheduling latencies
// recorded since the last reading (0 when there were none), or busyGrace
// if that is less and more than busyRunnable goroutines wait to run now.
func (l *lateness) readSched() time.Duration {
	metrics.Read(l.sample)
	p99 := since(l.sample[0].Value.Float64Histogram(), &l.prev, 0.99)
	var runnable uint64
	if v := l.sample[1].Value; v.Kind() == metrics.KindUint64 {
		runnable = v.Uint64()
	}
	return graceOf(p99, runnable, runtime.GOMAXPROCS(0))
}

// graceOf is Lateness from its readings: p99, at least busyGrace when
// more than busyRunnable goroutines per processor (of procs) are runnable.
func graceOf(p99 time.Duration, runnable uint64, procs int) time.Duration {
	if runnable > uint64(busyRunnable*procs) {
		return max(p99, busyGrace)
	}
	return p99
}

// window reports, once a window has passed since the last, the 90th
// percentile of the scheduling latency over it; ok is false between
// windows (and for a nil Limit).
func (a *Limit) window(now time.Time) (p90 time.Duration, ok bool) {
	if a == nil {
		return 0, false
	}
	t, due := now.UnixNano(), a.due.Load()
	if t < due || !a.due.CompareAndSwap(due, t+int64(Window)) {
		return 0, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.read(), true
}

// adaptLimit, once a window has passed since the last, sets l's limit
// for the next from the scheduling latency over it; it returns by how
// much the limit grew (the caller launches as many more queued starts).
func (l *Launcher[T]) adaptLimit(now time.Time) (grown int) {
	a := l.adapt
	p90, ok := a.window(now)
	if !ok {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := int(l.limit.Load())
	limit := nextLimit(old, int(l.inflight.Load()), l.head < len(l.queue), p90, a.target, a.lo, a.hi)
	l.limit.Store(int64(limit))
	a.gauge.Store(int64(min(limit, a.hi)))
	return max(min(limit, a.hi)-min(old, a.hi), 0)
}

// readSched returns the 90th percentile of the scheduling latencies
// recorded since the last read (0 when there were none).
func (a *Limit) readSched() time.Duration {
	metrics.Read(a.sample)
	return since(a.sample[0].Value.Float64Histogram(), &a.prev, 0.9)
}

// since returns the q-quantile of the counts h holds beyond prev, which
// it then updates to h's.
func since(h *metrics.Float64Histogram, prev *[]uint64, q float64) time.Duration {
	if len(h.Counts) != len(*prev) {
		*prev = make([]uint64, len(h.Counts))
	}
	d := percentile(h, *prev, q)
	copy(*prev, h.Counts)
	return d
}

// percentile returns the q-quantile of the counts h holds beyond prev, as
// the upper bound of the bucket it falls in (the lower bound for the last,
// unbounded bucket); 0 when there are none.
func percentile(h *metrics.Float64Histogram, prev []uint64, q float64) time.Duration {
	var total uint64
	for i, n := range h.Counts {
		total += n - prev[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range h.Counts {
		if seen += n - prev[i]; seen >= rank {
			v := h.Buckets[i+1]
			if math.IsInf(v, 1) {
				v = h.Buckets[i]
			}
			return time.Duration(v * float64(time.Second))
		}
	}
	return 0
}

// nextLimit is the limit of calls in flight after a window whose
// scheduling latency's 90th percentile was p90, with inflight calls in
// flight and calls queued or not: three quarters of what was in flight
// when p90 passed the target (multiplicative decrease, so that a flood is
// cut within a few windows); doubled when calls wait and p90 was under a
// quarter of it, a quarter more when under half (the limit only needs to
// grow while it holds calls back); else unchanged. It is at least lo; at
// hi (the composer's MaxInFlight) or above it is NoLimit: the launcher
// holds nothing back, and MaxInFlight alone bounds calls, refusing those
// that cannot get a slot in time.
func nextLimit(limit, inflight int, queued bool, p90, target time.Duration, lo, hi int) int {
	switch {
	case p90 > target:
		limit = min(limit, inflight) * 3 / 4
	case !queued:
	case p90 <= target/4:
		limit = min(limit, hi) * 2
	case p90 <= target/2:
		limit = min(limit, hi)
		limit += limit/4 + 1
	}
	if limit >= hi {
		return NoLimit
	}
	return max(lo, limit)
}
