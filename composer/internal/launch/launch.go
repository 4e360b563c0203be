// Package launch starts a process's fragment calls without flooding Go's
// scheduler, and gives each call a context of its own.
//
// Three mechanisms, each for a cold page of thousands of calls on a
// machine of few cores:
//
//   - The Launcher keeps few call goroutines waiting for their first
//     slice: the rest wait in a FIFO (a pointer each, no goroutine), and
//     each call's goroutine, as it starts, launches the next. A goroutine
//     woken meanwhile — a page's writer, a new request — waits behind at
//     most that few, not behind every call of every page.
//   - The Limit adapts how many calls may be in flight (launched and not
//     returned) to how long the process's goroutines wait to run, as the
//     runtime reports it (runtime/metrics "/sched/latencies:seconds").
//   - A Context is one call's context: detached from every request,
//     ending at the call's own deadline (counted from when the call
//     begins, not from when it queued) or when nobody waits for it any
//     more; it costs a struct, a channel and a timer, where a chain of
//     standard contexts cost a cold page a tenth of its CPU.
//
// The package knows nothing of fragments: the composer hands the Launcher
// its starts and the functions that run, shed and rank them.
//
// BenchmarkBurst here and the composer's BenchmarkLaunch measure what the
// room and the limit buy, each against starting every call at once.
package launch

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Launcher starts calls' goroutines, keeping few of them waiting to run at
// any moment. Its methods are safe for concurrent use.
//
// A cold 10,000-include page starts 10,000 calls. Started all at once as
// goroutines, the calls of 16 such pages (on two cores) fill Go's run
// queues with over 100,000 goroutines; every goroutine woken meanwhile —
// a page's writer, a connection with a new request — goes to the back of
// that queue and waits for all of them: on a saturated machine, pages
// whose own look-ups took 6 ms reached their reader after 200–500 ms.
// Here the calls wait in a FIFO of starts and at most room of their
// goroutines exist without having run yet: each call's goroutine, as it
// starts (Started), launches the next. Blocked calls (a fragment waiting
// on its backend) do not count, so a page's calls still all run at once
// when they wait rather than compute.
//
// Taking starts in order also sheds cheaply: a start whose every waiter
// gave up while it queued is dropped (Funcs.Shed) before it costs a
// goroutine.
//
// Beside that room, calls in flight (launched and not yet returned) are
// bounded by a limit, which a Limit adapts to how long the process's
// goroutines wait to run.
type Launcher[T any] struct {
	mu      sync.Mutex
	queue   []T
	head    int
	waiting int // goroutines launched that have not yet started running
	room    int
	// inflight counts calls launched whose goroutine has not returned;
	// limit bounds it for calls from the queue (urgent ones pass it),
	// NoLimit when there is none. Both change under mu; Finished reads
	// them without it, so that a call returning takes no lock unless the
	// limit held a start back.
	inflight atomic.Int64
	limit    atomic.Int64
	adapt    *Limit
	fn       Funcs[T]
}

// Funcs are what a Launcher does with its starts.
type Funcs[T any] struct {
	// Run is a call's goroutine. It must call Started first and Finished
	// last.
	Run func(T)
	// Shed reports whether a queued start is dropped, as it leaves the
	// queue at now, rather than run (every waiter gave up). A start shed
	// is not run; Shed does whatever dropping it needs.
	Shed func(s T, now time.Time) bool
	// Urgent reports whether a start passes the queue, the room and the
	// limit (a page's primary include: the page can send nothing until it
	// resolves).
	Urgent func(T) bool
}

// WaitingPerProc is how many calls' goroutines may wait to run, per
// processor. Enough that a processor always finds a call to run while
// others block; few enough that the run queue stays short (a woken page
// waits behind at most this many calls' first slices).
const WaitingPerProc = 32

// New returns a launcher whose calls in flight are bounded by limit
// (NoLimit: none), adapted by adapt (nil: fixed), with room for
// WaitingPerProc goroutines per processor waiting to run.
func New[T any](limit int, adapt *Limit, fn Funcs[T]) *Launcher[T] {
	l := &Launcher[T]{room: WaitingPerProc * runtime.GOMAXPROCS(0), adapt: adapt, fn: fn}
	l.limit.Store(int64(limit))
	return l
}

// Start launches the calls for starts, in order, or queues those there
// is no room for. Urgent starts go first, past any queue.
func (l *Launcher[T]) Start(starts []T) {
	l.mu.Lock()
	for _, s := range starts {
		if l.fn.Urgent(s) || (l.head == len(l.queue) && l.waiting < l.room && l.inflight.Load() < l.limit.Load()) {
			l.waiting++ // may pass room for an urgent start: see Started
			l.inflight.Add(1)
			go l.fn.Run(s)
			continue
		}
		l.push(s)
	}
	l.mu.Unlock()
}

// push queues s (with l.mu held). The starts already taken from the front
// are dropped first when they are half of the queue, so that a backlog that
// never quite empties does not grow the queue by every start it ever held.
func (l *Launcher[T]) push(s T) {
	if l.head > 0 && l.head >= len(l.queue)/2 && len(l.queue) == cap(l.queue) {
		n := copy(l.queue, l.queue[l.head:])
		clear(l.queue[n:])
		l.queue, l.head = l.queue[:n], 0
	}
	l.queue = append(l.queue, s)
}

// Started is run by every call's goroutine as it starts (at now): one
// fewer goroutine waits to run, so the next queued start, if any, is
// launched in its place (dropping those shed meanwhile) — unless urgent
// starts launched past the queue have taken more than the room, or calls
// in flight are at their limit.
//
// It is also where the limit is adapted, at most once a window (see
// Limit): calls start whenever the limit matters.
func (l *Launcher[T]) Started(now time.Time) {
	grown := l.adaptLimit(now)
	l.mu.Lock()
	l.waiting--
	l.launchQueued(now, 1+grown)
}

// Finished is run by every call's goroutine as it returns: one fewer call
// is in flight, so a start the limit held back may go. When the limit did
// not hold (it was not reached), nothing waits for this: Started launches
// the queue's starts as room for goroutines frees up.
func (l *Launcher[T]) Finished() {
	if l.inflight.Add(-1) < l.limit.Load()-1 {
		return
	}
	l.mu.Lock()
	if l.head == len(l.queue) {
		l.mu.Unlock()
		return
	}
	l.launchQueued(time.Now(), 1)
}

// Lateness is how late the process's woken goroutines have lately run (see
// Limit.Lateness; 0 without an adaptive limit): the grace of a call's
// deadline (see Context.Begin).
func (l *Launcher[T]) Lateness() time.Duration { return l.adapt.Lateness(time.Now()) }

// SetRoom sets how many launched goroutines may wait to run, and launches
// as many queued starts as the new room allows. Tests use it to hold
// calls in the queue (room 0) and let them go.
func (l *Launcher[T]) SetRoom(n int) {
	l.mu.Lock()
	l.room = n
	l.launchQueued(time.Now(), max(n-l.waiting, 0))
}

// launchQueued launches up to n queued starts while there is room for
// them (fewer than room goroutines waiting to run, fewer than limit calls
// in flight), dropping those shed meanwhile. It is called with l.mu held
// and returns with it released.
func (l *Launcher[T]) launchQueued(now time.Time, n int) {
	var zero T
	for n > 0 {
		if l.head == len(l.queue) {
			if cap(l.queue) > launchKeep {
				l.queue = nil // a burst's backlog is not kept for ever
			} else {
				l.queue = l.queue[:0]
			}
			l.head = 0
			break
		}
		if l.waiting >= l.room || l.inflight.Load() >= l.limit.Load() {
			break
		}
		s := l.queue[l.head]
		l.queue[l.head] = zero
		l.head++
		l.waiting++
		l.inflight.Add(1)
		l.mu.Unlock()
		if l.fn.Shed(s, now) {
			l.mu.Lock()
			l.waiting--
			l.inflight.Add(-1)
			continue
		}
		go l.fn.Run(s)
		if n--; n == 0 {
			return
		}
		l.mu.Lock()
	}
	l.mu.Unlock()
}

// launchKeep is the largest queue capacity kept once the queue empties.
const launchKeep = 4096
