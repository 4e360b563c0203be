package composer

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
)

// TestLauncherShedsQueuedLateCalls: a start still queued when every
// include waiting for it has given up is dropped without a goroutine (no
// cache tier here would keep its result); the calls around it run.
func TestLauncherShedsQueuedLateCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, made := recordingSpec()
		c := newTestComposer(t, testSite([]*Spec{s}, time.Second), Options{L1Bytes: -1})
		c.launcher.SetRoom(1)
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
// primaries resolve); the queue drains behind it once there is room.
func TestLauncherPrimaryPassesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, made := recordingSpec()
		c := newTestComposer(t, testSite([]*Spec{s}, time.Second), Options{})
		c.launcher.SetRoom(0) // no room: only a primary may start
		done := make(chan error, 4)
		soon := time.Now().Add(time.Second)
		starts := joinStarts(t, c, 0, []time.Time{soon, soon, soon, soon}, done)
		starts[3].primary = true
		c.callAll(starts)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := made(); got != "3" {
			t.Fatalf("calls made %q with no room but for the primary, want 3", got)
		}
		c.launcher.SetRoom(1)
		for range 3 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if got := strings.Split(made(), ","); len(got) != 4 || got[0] != "3" || !sameSet(got[1:], "0", "1", "2") {
			t.Errorf("calls made %q, want the primary and then the queue", got)
		}
	})
}

// sameSet reports whether got holds exactly want, in any order.
func sameSet(got []string, want ...string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
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
