package composer

import (
	"runtime"
	"sync"
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
type launcher struct {
	mu      sync.Mutex
	queue   []*start
	head    int
	waiting int // goroutines launched that have not yet started running
	max     int
}

func newLauncher() *launcher {
	return &launcher{max: launchWaitingPerProc * runtime.GOMAXPROCS(0)}
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
		if s.primary || (l.head == len(l.queue) && l.waiting < l.max) {
			l.waiting++ // may pass max for a primary: see started
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

// started is run by every call's goroutine as it starts (at now): it
// launches the next queued start, if any, dropping those shed meanwhile;
// else (or when primaries launched past the queue have taken more than the
// room) one fewer goroutine waits to run.
func (c *Composer) started(now time.Time) {
	l := c.launcher
	for {
		l.mu.Lock()
		if empty := l.head == len(l.queue); empty || l.waiting > l.max {
			l.waiting--
			if empty {
				if cap(l.queue) > launchKeep {
					l.queue = nil // a burst's backlog is not kept for ever
				} else {
					l.queue = l.queue[:0]
				}
				l.head = 0
			}
			l.mu.Unlock()
			return
		}
		s := l.queue[l.head]
		l.queue[l.head] = nil
		l.head++
		l.mu.Unlock()
		if c.shed(s, now) {
			c.bg.Done()
			continue
		}
		go c.callNow(s)
		return
	}
}

// launchKeep is the largest queue capacity kept once the queue empties.
const launchKeep = 4096

// shed drops s's call if every include waiting for it has given up (and
// no cache tier would keep the result): see flight.shedIfLate.
func (c *Composer) shed(s *start, now time.Time) bool {
	if !s.fl.shedIfLate(now, c.keeps(s.f)) {
		return false
	}
	c.stats.Shed.Add(1)
	c.unlock(s)
	return true
}
