package composer

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// launcher starts fragment calls' goroutines, keeping few of them waiting
// to run at any moment.
//
// A cold 10,000-include page starts 10,000 calls. Started all at once as
// goroutines, the calls of 16 such pages (on two cores) fill Go's run
// queues with over 100,000 goroutines; every goroutine woken meanwhile —
// a page's writer, a connection with a new request — goes to the back of
// that queue and waits for all of them: on a saturated machine, pages
// whose own look-ups took 6 ms reached their reader after 200–500 ms.
// Here the calls wait in a FIFO of starts (a pointer each, no goroutine)
// and at most maxWaiting of their goroutines exist without having run yet:
// each call's goroutine, as it starts, launches the next. Blocked calls
// (a fragment waiting on its backend) do not count, so a page's calls
// still all run at once when they wait rather than compute.
//
// Taking starts in order also sheds cheaply: a start whose every waiter
// gave up while it queued is dropped before it costs a goroutine (see
// flight.shedIfLate).
//
// Beside that room, calls in flight (launched and not yet returned) are
// bounded by limit, which callLimit adapts to how long the process's
// goroutines wait to run: see calllimit.go.
type launcher struct {
	mu      sync.Mutex
	queue   []*start
	head    int
	waiting int // goroutines launched that have not yet started running
	max     int
	// inflight counts calls launched whose goroutine has not returned;
	// limit bounds it for calls from the queue (primaries pass it), noLimit
	// when there is none. Both change under mu; finished reads them
	// without it, so that a call returning takes no lock unless the limit
	// held a start back.
	inflight atomic.Int64
	limit    atomic.Int64
	adapt    *callLimit
}

// newLauncher returns a launcher whose calls in flight are bounded by
// limit, adapted to a scheduling latency target (nil: fixed).
func newLauncher(limit int, adapt *callLimit) *launcher {
	l := &launcher{max: launchWaitingPerProc * runtime.GOMAXPROCS(0), adapt: adapt}
	l.limit.Store(int64(limit))
	return l
}

// launchWaitingPerProc is how many calls' goroutines may wait to run, per
// processor. Enough that a processor always finds a call to run while
// others block; few enough that the run queue stays short (a woken page
// waits behind at most this many calls' first slices).
const launchWaitingPerProc = 32

// callAll starts the calls for starts, in order. A page's primary
// includes go first, past any queue: the page can send nothing, and fails
// as a 503, until they have resolved.
func (c *Composer) callAll(starts []*start) {
	if len(starts) == 0 {
		return
	}
	c.bg.Add(len(starts))
	l := c.launcher
	l.mu.Lock()
	for _, s := range starts {
		if s.primary || (l.head == len(l.queue) && l.waiting < l.max && l.inflight.Load() < l.limit.Load()) {
			l.waiting++ // may pass max for a primary: see started
			l.inflight.Add(1)
			go c.callNow(s)
			continue
		}
		l.push(s)
	}
	l.mu.Unlock()
}

// push queues s (with l.mu held). The starts already taken from the front
// are dropped first when they are half of the queue, so that a backlog that
// never quite empties does not grow the queue by every start it ever held.
func (l *launcher) push(s *start) {
	if l.head > 0 && l.head >= len(l.queue)/2 && len(l.queue) == cap(l.queue) {
		n := copy(l.queue, l.queue[l.head:])
		clear(l.queue[n:])
		l.queue, l.head = l.queue[:n], 0
	}
	l.queue = append(l.queue, s)
}

// call starts the call for s.
func (c *Composer) call(s *start) { c.callAll([]*start{s}) }

// started is run by every call's goroutine as it starts (at now): one
// fewer goroutine waits to run, so the next queued start, if any, is
// launched in its place (dropping those shed meanwhile) — unless primaries
// launched past the queue have taken more than the room, or calls in
// flight are at their limit.
//
// It is also where the limit is adapted, at most once a window (see
// callLimit): calls start whenever the limit matters.
func (c *Composer) started(now time.Time) {
	l := c.launcher
	grown := l.adapt.update(l, now)
	l.mu.Lock()
	l.waiting--
	c.launchQueued(now, 1+grown)
}

// finished is run by every call's goroutine as it returns: one fewer call
// is in flight, so a start the limit held back may go. When the limit did
// not hold (it was not reached), nothing waits for this: started launches
// the queue's starts as room for goroutines frees up.
func (c *Composer) finished() {
	l := c.launcher
	if l.inflight.Add(-1) < l.limit.Load()-1 {
		return
	}
	l.mu.Lock()
	if l.head == len(l.queue) {
		l.mu.Unlock()
		return
	}
	c.launchQueued(time.Now(), 1)
}

// launchQueued launches up to n queued starts while there is room for
// them (fewer than max goroutines waiting to run, fewer than limit calls
// in flight), dropping those shed meanwhile. It is called with l.mu held
// and returns with it released.
func (c *Composer) launchQueued(now time.Time, n int) {
	l := c.launcher
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
		if l.waiting >= l.max || l.inflight.Load() >= l.limit.Load() {
			break
		}
		s := l.queue[l.head]
		l.queue[l.head] = nil
		l.head++
		l.waiting++
		l.inflight.Add(1)
		l.mu.Unlock()
		if c.shed(s, now) {
			c.bg.Done()
			l.mu.Lock()
			l.waiting--
			l.inflight.Add(-1)
			continue
		}
		go c.callNow(s)
		if n--; n == 0 {
			return
		}
		l.mu.Lock()
	}
	l.mu.Unlock()
}

// launchKeep is the largest queue capacity kept once the queue empties.
const launchKeep = 4096

// shed drops s's call if every include waiting for it has given up (and
// no cache tier would keep the result): see flight.shedIfLate.
func (c *Composer) shed(s *start, now time.Time) bool {
	if !s.fl.ShedIfLate(now, c.keeps(s.f)) {
		return false
	}
	c.stats.Shed.Add(1)
	c.unlock(s)
	return true
}
