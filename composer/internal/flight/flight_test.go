package flight

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type entry struct{ key string }

// cb is a waiter calling fn.
type cb struct {
	fn func(e *entry, err error, parked bool, now time.Time)
}

func (w cb) None() bool { return w.fn == nil }
func (w cb) Tell(e *entry, err error, parked bool, now time.Time) {
	w.fn(e, err, parked, now)
}

type group = Group[entry, cb]
type fl = Flight[entry, cb]

// result records what a waiter was told.
type result struct {
	e      *entry
	err    error
	parked bool
}

func recorder(ch chan<- result) cb {
	return cb{fn: func(e *entry, err error, parked bool, _ time.Time) { ch <- result{e, err, parked} }}
}

// TestJoinSharesOneCall: joiners of a running call wait for it and are all
// told its result; a joiner after it completed takes the parked entry.
func TestJoinSharesOneCall(t *testing.T) {
	var g group
	ch := make(chan result, 4)
	var started []*fl
	start := func(f *fl) { started = append(started, f) }
	for range 3 {
		g.Join(nil, "k", time.Time{}, false, time.Time{}, recorder(ch), start, nil)
	}
	if len(started) != 1 {
		t.Fatalf("%d calls started for one key, want 1", len(started))
	}
	e := &entry{key: "k"}
	if !started[0].Complete(e, nil) || started[0].Complete(nil, errors.New("again")) {
		t.Fatal("only the first completion counts")
	}
	for range 3 {
		if r := <-ch; r.e != e || r.err != nil || r.parked {
			t.Fatalf("waiter told %+v, want the call's entry", r)
		}
	}
	g.Join(nil, "k", time.Time{}, false, time.Time{}, recorder(ch), start, nil)
	if r := <-ch; r.e != e || !r.parked || len(started) != 1 {
		t.Fatalf("joiner of a parked call told %+v (%d calls)", r, len(started))
	}
	started[0].Forget()
	if g.Len() != 0 {
		t.Fatalf("%d flights left after Forget", g.Len())
	}
}

// TestRecheckUnderLock: a key with no flight is looked up again (recheck)
// before a call starts; an entry found there is the answer.
func TestRecheckUnderLock(t *testing.T) {
	var g group
	ch := make(chan result, 1)
	e := &entry{key: "k"}
	starts := 0
	g.Join(nil, "k", time.Time{}, false, time.Time{}, recorder(ch), func(*fl) { starts++ }, func() *entry { return e })
	select {
	case r := <-ch: // told at once, on this goroutine
		if r.e != e || !r.parked || starts != 0 {
			t.Fatalf("told %+v after %d calls, want the rechecked entry and no call", r, starts)
		}
	default:
		t.Fatalf("not told the rechecked entry (%d calls started)", starts)
	}
}

// TestFailureIsHeld: a call that failed with a hold answers later joiners
// with its error until the hold is dropped; a primary calls again.
func TestFailureIsHeld(t *testing.T) {
	var g group
	ch := make(chan result, 1)
	var started []*fl
	start := func(f *fl) { started = append(started, f) }
	g.Join(nil, "k", time.Time{}, false, time.Time{}, cb{}, start, nil)
	boom := errors.New("boom")
	started[0].Fail(boom, time.Hour)
	g.Join(nil, "k", time.Time{}, false, time.Time{}, recorder(ch), start, nil)
	if r := <-ch; !errors.Is(r.err, boom) || len(started) != 1 {
		t.Fatalf("joiner during the hold told %+v after %d calls, want the held error", r, len(started))
	}
	g.Join(nil, "k", time.Time{}, true, time.Time{}, recorder(ch), start, nil)
	if len(started) != 2 {
		t.Fatalf("a primary took the held failure (%d calls)", len(started))
	}
	started[1].Complete(&entry{}, nil)
	<-ch
	started[1].Forget()
	started[0].Fail(boom, time.Hour) // a later completion changes nothing
	g.DropHolds()
	if g.Len() != 0 {
		t.Fatalf("%d flights left after DropHolds", g.Len())
	}
}

// TestExpiredCallStaysJoinable: a call past its timeout tells its waiters
// so far ErrTimeout and is joined, not replaced, until retryAt.
func TestExpiredCallStaysJoinable(t *testing.T) {
	var g group
	ch := make(chan result, 2)
	var started []*fl
	start := func(f *fl) { started = append(started, f) }
	g.Join(nil, "k", time.Time{}, false, time.Time{}, recorder(ch), start, nil)
	now := time.Now()
	if !started[0].Expire(now, now.Add(time.Hour)) {
		t.Fatal("Expire did nothing")
	}
	if r := <-ch; !errors.Is(r.err, ErrTimeout) {
		t.Fatalf("waiter told %+v, want ErrTimeout", r)
	}
	g.Join(nil, "k", time.Time{}, false, time.Time{}, recorder(ch), start, nil)
	if len(started) != 1 || !started[0].WasExpired() {
		t.Fatalf("an expired call was replaced before retryAt (%d calls)", len(started))
	}
	started[0].Complete(&entry{}, nil)
	if r := <-ch; r.e == nil {
		t.Fatalf("late joiner told %+v, want the entry", r)
	}
	started[0].Forget()
}

// TestPartyLeavingAbandons: when the only party waiting for a call goes
// away, the call completes with ErrAbandoned and its context is
// cancelled; a request that was served (ErrServed) leaves its calls
// running.
func TestPartyLeavingAbandons(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cause     error
		abandoned bool
	}{
		{"client left", context.Canceled, true},
		{"page served", ErrServed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g group
			ctx, cancel := context.WithCancelCause(context.Background())
			p := NewParty[entry, cb](ctx)
			ch := make(chan result, 1)
			var f *fl
			until := time.Now().Add(time.Hour)
			counted := g.Join(p, "k", until, false, time.Time{}, recorder(ch), func(s *fl) { f = s }, nil)
			callCtx, callCancel := context.WithCancelCause(context.Background())
			defer callCancel(nil)
			if counted != f || !f.Running(callCancel) {
				t.Fatal("the party's waiter was not counted, or the call did not start")
			}
			p.AddAll([]*fl{counted})
			cancel(tc.cause)
			if !tc.abandoned {
				f.Complete(&entry{}, nil)
				if r := <-ch; r.e == nil {
					t.Fatalf("served request's call told %+v", r)
				}
				f.Forget()
				return
			}
			<-callCtx.Done()
			if r := <-ch; !errors.Is(r.err, ErrAbandoned) || !errors.Is(context.Cause(callCtx), ErrAbandoned) {
				t.Fatalf("told %+v, call cause %v: want ErrAbandoned", r, context.Cause(callCtx))
			}
			if g.Len() != 0 {
				t.Fatal("an abandoned call stayed in the group")
			}
		})
	}
}

// TestShedIfLate: a call whose every waiter's deadline has passed is not
// made, unless a cache would keep its result or something pins it.
func TestShedIfLate(t *testing.T) {
	var g group
	ctx := context.Background()
	p := NewParty[entry, cb](ctx)
	ch := make(chan result, 1)
	var f *fl
	until := time.Now().Add(time.Minute)
	g.Join(p, "k", until, false, time.Time{}, recorder(ch), func(s *fl) { f = s }, nil)
	if f.ShedIfLate(until.Add(-time.Second), false) || f.ShedIfLate(until.Add(time.Second), true) {
		t.Fatal("shed a call still waited for, or one a cache keeps")
	}
	if !f.ShedIfLate(until.Add(time.Second), false) {
		t.Fatal("a call nobody can use was made")
	}
	if r := <-ch; !errors.Is(r.err, ErrTimeout) || g.Len() != 0 {
		t.Fatalf("shed call told %+v, %d flights left", r, g.Len())
	}
}

// TestJoinSinceTakesNoEarlierCall: a join asking for a call that starts no
// earlier than a time (an event's refresh) does not take a completed
// call's parked entry, nor join a call started before then; it joins one
// that has not started yet.
func TestJoinSinceTakesNoEarlierCall(t *testing.T) {
	var g group
	e := &entry{key: "k"}
	starts := 0
	start := func(*fl) { starts++ }
	got := func(*entry, error, bool, time.Time) {}
	g.Join(nil, "k", time.Time{}, false, time.Time{}, cb{fn: got}, func(f *fl) { f.Complete(e, nil) }, nil)
	var parked *entry
	g.Join(nil, "k", time.Time{}, false, time.Time{}, cb{fn: func(e *entry, _ error, p bool, _ time.Time) {
		if p {
			parked = e
		}
	}}, start, nil)
	if parked != e || starts != 0 {
		t.Fatalf("a plain join took %v parked, started %d calls: want the parked entry", parked, starts)
	}
	g.Join(nil, "k", time.Time{}, false, time.Now(), cb{fn: got}, start, nil)
	if starts != 1 {
		t.Fatalf("a join since now took the parked entry (%d calls started)", starts)
	}
	// The new flight has not started: a later event joins it.
	g.Join(nil, "k", time.Time{}, false, time.Now(), cb{fn: got}, start, nil)
	if starts != 1 {
		t.Fatalf("a join since now did not join a call yet to start (%d calls started)", starts)
	}
	f := g.shardOf("k").m["k"]
	f.Running(func(error) {})
	g.Join(nil, "k", time.Time{}, false, time.Now().Add(time.Millisecond), cb{fn: got}, start, nil)
	if starts != 2 {
		t.Fatalf("a join since after the call started joined it (%d calls started)", starts)
	}
}

// BenchmarkJoinComplete is one include's trip through the group: join a
// key (starting its call), complete the call, forget it — from every
// processor at once, on keys spread over the shards, as a cold page's
// includes and their calls do.
func BenchmarkJoinComplete(b *testing.B) {
	var g group
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "score?match=m" + strconv.Itoa(i)
	}
	var next atomic.Int64
	told := cb{fn: func(*entry, error, bool, time.Time) {}}
	e := &entry{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 997
		for pb.Next() {
			i++
			var f *fl
			g.Join(nil, keys[i%len(keys)], time.Time{}, false, time.Time{}, told, func(s *fl) { f = s }, nil)
			if f != nil {
				f.Complete(e, nil)
				f.Forget()
			}
		}
	})
}
