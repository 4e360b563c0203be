package launch

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// task is one start: it records that it ran and blocks until release is
// closed; a late task is shed as it leaves the queue; an urgent one passes
// it.
type task struct {
	id     int
	late   bool
	urgent bool
}

// rig is a launcher of tasks and what they did.
type rig struct {
	*Launcher[*task]
	release chan struct{}
	gate    chan struct{} // when set, calls wait for it before Started
	done    sync.WaitGroup
	running atomic.Int32
	peak    atomic.Int32

	mu   sync.Mutex
	ran  []int
	shed []int
}

func newRig(limit int, adapt *Limit) *rig {
	r := &rig{release: make(chan struct{})}
	r.Launcher = New(limit, adapt, Funcs[*task]{
		Run: func(t *task) {
			defer r.done.Done()
			if r.gate != nil {
				<-r.gate // a goroutine not yet run, as far as the launcher knows
			}
			// Recorded before Started launches the next queued start, so
			// that the order recorded is the order launched.
			r.mu.Lock()
			r.ran = append(r.ran, t.id)
			r.mu.Unlock()
			defer r.Finished()
			r.Started(time.Now())
			n := r.running.Add(1)
			defer r.running.Add(-1)
			for old := r.peak.Load(); n > old && !r.peak.CompareAndSwap(old, n); old = r.peak.Load() {
			}
			<-r.release
		},
		Shed: func(t *task, _ time.Time) bool {
			if !t.late {
				return false
			}
			r.mu.Lock()
			r.shed = append(r.shed, t.id)
			r.mu.Unlock()
			r.done.Done()
			return true
		},
		Urgent: func(t *task) bool { return t.urgent },
	})
	return r
}

// start starts tasks first..first+n-1.
func (r *rig) start(first, n int, mark func(*task)) {
	ts := make([]*task, n)
	for i := range ts {
		ts[i] = &task{id: first + i}
		if mark != nil {
			mark(ts[i])
		}
	}
	r.done.Add(n)
	r.Start(ts)
}

// report returns the ids run and shed, in order.
func (r *rig) report() (ran, shed string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return join(r.ran), join(r.shed)
}

func join(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, ",")
}

// finish releases every task and waits for them.
func (r *rig) finish(t *testing.T) {
	close(r.release)
	r.done.Wait()
	synctest.Wait()
	r.idle(t)
}

// idle checks that nothing is in flight, waiting to run or queued.
func (r *rig) idle(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	r.Launcher.mu.Lock()
	defer r.mu.Unlock()
	defer r.Launcher.mu.Unlock()
	if n, q := r.inflight.Load(), len(r.queue)-r.head; n != 0 || r.waiting != 0 || q != 0 {
		t.Errorf("inflight %d, waiting %d, queued %d after every call returned", n, r.waiting, q)
	}
}

// state returns l's limit and the number of starts it queues.
func (l *Launcher[T]) state() (limit, queued int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit.Load()), len(l.queue) - l.head
}

// TestRunsBlockedCallsAtOnce: with room for two goroutines waiting to
// run, fifty calls that all block (on their backend) still all run at
// once: a blocked call does not hold the launcher's room.
func TestRunsBlockedCallsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(NoLimit, nil)
		r.SetRoom(2)
		r.start(0, 50, nil)
		synctest.Wait() // every call started, and blocks
		if p := r.peak.Load(); p != 50 {
			t.Fatalf("%d of 50 blocked calls ran at once", p)
		}
		r.finish(t)
	})
}

// TestRoomBoundsWaitingGoroutines: calls' goroutines that have not yet
// run never number more than the room; the rest wait in the queue, in
// order.
func TestRoomBoundsWaitingGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(NoLimit, nil)
		r.gate = make(chan struct{})
		r.SetRoom(3)
		r.start(0, 10, nil)
		synctest.Wait()
		r.Launcher.mu.Lock()
		if r.waiting != 3 || len(r.queue)-r.head != 7 {
			t.Errorf("waiting %d, queued %d; want 3 and 7", r.waiting, len(r.queue)-r.head)
		}
		r.Launcher.mu.Unlock()
		close(r.gate)
		synctest.Wait()
		if p := r.peak.Load(); p != 10 {
			t.Errorf("%d of 10 calls ran", p)
		}
		r.finish(t)
	})
}

// TestShedsQueuedLateCalls: a start still queued when every waiter has
// given up is dropped without a goroutine; the calls around it run.
func TestShedsQueuedLateCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(NoLimit, nil)
		r.SetRoom(1)
		r.start(0, 3, func(t *task) { t.late = t.id == 1 })
		synctest.Wait()
		if ran, shed := r.report(); ran != "0,2" || shed != "1" {
			t.Errorf("ran %q, shed %q; want 0,2 and 1", ran, shed)
		}
		r.finish(t)
	})
}

// TestUrgentPassesTheQueue: an urgent start runs at once even when others
// wait in the queue, and the room it borrowed is given back.
func TestUrgentPassesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(NoLimit, nil)
		r.SetRoom(0) // no room: only an urgent start may run
		r.start(0, 4, func(t *task) { t.urgent = t.id == 3 })
		synctest.Wait()
		if ran, _ := r.report(); ran != "3" {
			t.Fatalf("ran %q with no room but for the urgent start, want 3", ran)
		}
		r.Launcher.mu.Lock()
		if r.waiting != 0 || len(r.queue)-r.head != 3 {
			t.Errorf("waiting %d, queued %d; want 0 and 3", r.waiting, len(r.queue)-r.head)
		}
		r.Launcher.mu.Unlock()
		r.SetRoom(1)
		synctest.Wait()
		if ran, _ := r.report(); ran != "3,0,1,2" {
			t.Errorf("ran %q, want 3 and then the queue in order", ran)
		}
		r.finish(t)
	})
}

// TestQueueStaysBounded: a backlog that never empties (one start taken
// for each one queued) keeps the queue's memory bounded by the backlog,
// not by every start it ever held.
func TestQueueStaysBounded(t *testing.T) {
	l := &Launcher[*task]{room: 1}
	const backlog = 1000
	for range backlog {
		l.push(&task{})
	}
	for range 100 * backlog {
		l.push(&task{})
		l.queue[l.head] = nil
		l.head++
	}
	if n := len(l.queue) - l.head; n != backlog {
		t.Fatalf("backlog %d, want %d", n, backlog)
	}
	if c := cap(l.queue); c > 4*backlog {
		t.Errorf("queue capacity %d for a backlog of %d", c, backlog)
	}
}

// TestLimitHoldsCallsBack: with a limit of two, of six calls that block
// two run and the others wait, each starting as a call returns; an urgent
// start passes the limit.
func TestLimitHoldsCallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(2, nil)
		r.start(0, 6, nil)
		synctest.Wait()
		if ran, _ := r.report(); ran != "0,1" && ran != "1,0" {
			t.Fatalf("ran %q with a limit of 2", ran)
		}
		r.start(6, 1, func(t *task) { t.urgent = true })
		synctest.Wait()
		if ran, _ := r.report(); !strings.HasSuffix(ran, ",6") {
			t.Fatalf("ran %q: the urgent start did not pass the limit", ran)
		}
		close(r.release)
		r.done.Wait()
		synctest.Wait()
		ran, _ := r.report()
		if got := strings.Split(ran, ","); len(got) != 7 || !sameSet(got[3:], "2", "3", "4", "5") {
			t.Errorf("ran %q, want 0 and 1, the urgent one, then the queued ones", ran)
		}
		if p := r.peak.Load(); p != 3 {
			t.Errorf("%d calls ran at once, want 3 (two under the limit and the urgent one)", p)
		}
		r.idle(t)
	})
}

// sameSet reports whether got holds exactly want, in any order.
func sameSet(got []string, want ...string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}
