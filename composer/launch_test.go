package composer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
)

// TestLauncherRunsBlockedCallsAtOnce: with room for two goroutines waiting
// to run, fifty calls that all block (on their backend) still all run at
// once: a blocked call does not hold the launcher's room.
func TestLauncherRunsBlockedCallsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const calls = 50
		s, release, _, order := blockingCounter()
		c := newTestComposer(t, testSite([]*Spec{s}, time.Second), Options{})
		c.launcher.max = 2
		done := make(chan error, calls)
		untils := make([]time.Time, calls)
		for i := range untils {
			untils[i] = time.Now().Add(time.Second)
		}
		c.callAll(joinStarts(t, c, 0, untils, done))
		synctest.Wait() // every call started, and blocks
		if got := len(order()); got != calls {
			t.Fatalf("%d of %d blocked calls started", got, calls)
		}
		close(release)
		for range calls {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if w := c.launcher.waiting; w != 0 {
			t.Errorf("launcher.waiting = %d after every call started, want 0", w)
		}
	})
}

// TestLauncherShedsQueuedLateCalls: a start still queued when every
// include waiting for it has given up is dropped without a goroutine (no
// cache tier here would keep its result); the calls around it run.
func TestLauncherShedsQueuedLateCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, made := recordingSpec()
		c := newTestComposer(t, testSite([]*Spec{s}, time.Second), Options{L1Bytes: -1})
		c.launcher.max = 1
		done := make(chan error, 3)
		c.callAll(joinStarts(t, c, 0, []time.Time{time.Now().Add(time.Second), time.Now().Add(-time.Millisecond), time.Now().Add(time.Second)}, done))
		errs := []error{<-done, <-done, <-done}
		synctest.Wait()
		timeouts := 0
		for _, err := range errs {
			if err == errTimeout {
				timeouts++
			}
		}
		// 0 and 2 run at once (the first launches the next as it starts),
		// so either may be made first.
		if got := made(); timeouts != 1 || !sameSet(strings.Split(got, ","), "0", "2") {
			t.Errorf("calls made %q, %d timeouts; want 0 and 2, and the late one's timeout", got, timeouts)
		}
		if n := c.Stats().Shed.Load(); n != 1 {
			t.Errorf("Stats.Shed = %d, want 1", n)
		}
	})
}

// recordingSpec is fragment f with a required id, whose calls record
// their ids; made lists them, comma-separated, in the order made.
func recordingSpec() (s *Spec, made func() string) {
	var mu sync.Mutex
	var ids []string
	s = static("f", "")
	s.Params = []ParamSpec{{Name: "id", Required: true}}
	s.Render = func(_ context.Context, p Params) (templ.Component, error) {
		mu.Lock()
		ids = append(ids, p.Get("id"))
		mu.Unlock()
		return text("<b>x</b>"), nil
	}
	return s, func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(ids, ",")
	}
}

// joinStarts joins, for each of untils, the flight of fragment f's include
// with id=first+i, waiting until then and reporting on done; it returns
// the starts of the new calls, for callAll.
func joinStarts(t *testing.T, c *Composer, first int, untils []time.Time, done chan error) []*start {
	t.Helper()
	f := c.Site().Fragments["f"]
	var starts []*start
	for i, until := range untils {
		id := strconv.Itoa(first + i)
		p, err := newParams(f.Spec, func(string) (string, bool) { return id, true })
		if err != nil {
			t.Fatal(err)
		}
		key := Key("f", p)
		c.flights.Join(newParty(t.Context()), key, until, false, time.Time{}, waiter{fn: func(_ *Entry, err error, _ bool, _ time.Time) { done <- err }}, func(fl *flight) {
			starts = append(starts, &start{fl: fl, site: c.Site(), f: f, p: p, key: key, version: c.version(f)})
		}, nil)
	}
	return starts
}

// TestLauncherPrimaryPassesTheQueue: a primary's call starts at once even
// when other calls wait in the queue (the page can send nothing until its
// primaries resolve), and the room it borrowed is given back.
func TestLauncherPrimaryPassesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, made := recordingSpec()
		c := newTestComposer(t, testSite([]*Spec{s}, time.Second), Options{})
		l := c.launcher
		l.max = 0 // no room: only a primary may start
		done := make(chan error, 5)
		soon := time.Now().Add(time.Second)
		starts := joinStarts(t, c, 0, []time.Time{soon, soon, soon, soon}, done)
		starts[3].primary = true
		c.callAll(starts)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("the primary's call did not start while others were queued")
		}
		synctest.Wait()
		if got := made(); got != "3" {
			t.Fatalf("calls made %q with no room but for the primary, want 3", got)
		}
		if l.waiting != 0 || len(l.queue)-l.head != 3 {
			t.Errorf("waiting %d, queued %d; want 0 and 3", l.waiting, len(l.queue)-l.head)
		}
		// With room for one, the next primary starts and, as it does, the
		// queue drains in order behind it.
		l.mu.Lock()
		l.max = 1
		l.mu.Unlock()
		more := joinStarts(t, c, 4, []time.Time{soon}, done)
		more[0].primary = true
		c.callAll(more)
		for range 4 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if got := made(); !strings.HasPrefix(got, "3,") || strings.Count(got, ",") != 4 {
			t.Errorf("calls made %q, want 3 first and then all five", got)
		}
		if l.waiting != 0 || len(l.queue) != l.head {
			t.Errorf("waiting %d, queued %d; want 0 and 0", l.waiting, len(l.queue)-l.head)
		}
	})
}

// TestLauncherQueueStaysBounded: a backlog that never empties (one start
// taken for each one queued) keeps the queue's memory bounded by the
// backlog, not by every start it ever held.
func TestLauncherQueueStaysBounded(t *testing.T) {
	l := &launcher{max: 1}
	const backlog = 1000
	for range backlog {
		l.push(&start{})
	}
	for range 100 * backlog {
		l.push(&start{})
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
