// Package flight coalesces calls: concurrent look-ups of one key share one
// call, and every caller is told its result. It is groupcache's
// singleflight grown for pages of thousands of includes: waiters are
// callbacks rather than parked goroutines, a call completes at its timeout
// whether or not the callee returns, a failed call's error is the answer
// for a hold, and a request whose client leaves takes its waiters out of
// the calls it joined (a Party), cancelling those nobody else waits for.
//
// The one comment that matters is Join's: why the cache is looked at again
// under the group's lock before a new call starts.
package flight

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// Group deduplicates fragment calls: concurrent lookups of one key share
// one call. It differs from x/sync/singleflight in two ways that matter at
// thousands of includes per page: waiters are callbacks, not goroutines
// blocked on a channel (a cold 2,000-include page would otherwise park
// 2,000 goroutines and timers just to wait), and a call completes at its
// timeout even when the fragment ignores its context. A call past its
// timeout stays joinable while it runs (later requests wait for it within
// their own deadlines instead of piling new calls on a struggling
// fragment), until retryAt: then a new call may replace it, so that one
// call that hangs for ever does not hold its key for ever. A call that
// failed stays too, done, for its fragment's FailHold (see Flight.Fail):
// the requests of a herd arriving after a failure get it at once rather
// than each calling again.
//
// The group is split in shards by key, each with its own lock: a page's
// thousands of includes join, and their calls leave, one at a time, and on
// a saturated machine a goroutine preempted while holding one group-wide
// lock stalled every other page's joins behind it (a mutex profile of
// 16 concurrent 10,000-include pages showed that lock as nearly all of the
// composer's lock waiting).
type Group[E any, W Waiter[E]] struct {
	shards [flightShards]shard[E, W]
}

const flightShards = 64

// shard is one lock's part of the group; a key's flights always live
// in the same shard, so everything said of "the group's lock" holds per key.
type shard[E any, W Waiter[E]] struct {
	mu sync.Mutex
	m  map[string]*Flight[E, W]
}

var flightSeed = maphash.MakeSeed()

func (g *Group[E, W]) shardOf(key string) *shard[E, W] {
	return &g.shards[maphash.String(flightSeed, key)%flightShards]
}

// Flight is one fragment call and the callbacks waiting for it.
type Flight[E any, W Waiter[E]] struct {
	once    sync.Once
	g       *shard[E, W]
	key     string
	mu      sync.Mutex
	waiters []W
	done    bool
	entry   *E
	err     error
	// expired is set when the call passed its timeout; retryAt is when a
	// new call may replace it.
	expired bool
	retryAt time.Time
	// heldUntil, for a call that failed, is the end of its key's failure
	// hold (Settings.FailHold): until then the flight stays in the group,
	// done, and joiners get its error at once instead of a new call.
	heldUntil time.Time
	// parties counts the waiters that came with a request still there;
	// pinned is set by a waiter without one (see Group).
	parties int32
	pinned  bool
	// until is the latest deadline of the includes waiting (see shedIfLate);
	// shed is set when the call was not made because it had passed.
	until time.Time
	shed  bool
	// cancel ends the call's context; nil until the call starts, and for
	// a flight waiting for another instance's call.
	cancel context.CancelCauseFunc
	// started is when the call started (zero until then).
	started time.Time
}

var (
	// ErrAbandoned completes a flight whose waiters all went away.
	ErrAbandoned = errors.New("flight: every request waiting for the call went away")
	// ErrTimeout completes a call at its timeout (see Flight.Expire), or
	// one shed because its waiters had all given up (see ShedIfLate).
	ErrTimeout = errors.New("flight: call timed out")
)

// Waiter is told a call's result. The composer's is an include of a page
// (thousands per page, told without a closure of their own) or any other
// caller's callback. parked reports that the call had already completed
// and its entry was on its way into the cache: for the waiter it is as
// good as a cache hit. now is when the result came (read once for all of a
// call's waiters: a shared score has one per page in flight). None
// reports the zero waiter: nobody to tell (a refresh's call).
type Waiter[E any] interface {
	None() bool
	Tell(e *E, err error, parked bool, now time.Time)
}

// Join adds cb to the call for key, starting it with start when there is
// none. cb runs exactly once: on the goroutine that completes the call (so
// it must not block), or at once when the call is parked.
//
// p is the waiting request (nil for work no client waits for, which pins
// the flight: see Group); until is when it stops waiting (see
// shedIfLate).
// When p's waiter was counted in a flight, join returns that flight: the
// caller hands it to p.AddAll (one lock for a level's includes, not one
// each).
//
// recheck, when not nil, is asked for a cached entry before a new call
// starts, under the group's lock. This is groupcache's double check: the
// caller looked in L1 before joining (and maybe in Redis, which takes a
// while), and a call for the key may have completed meanwhile and put its
// entry in L1. Flights leave the group only after their entry is in L1,
// under the same lock, so an absent flight and a nil recheck together mean
// there really is nothing: no duplicate call slips through.
//
// since, when not zero, asks for a call that starts no earlier: an event's
// refresh (see Refresh) must render data read after the event, so it joins
// neither a call already running since before then nor a completed one; a
// new call replaces them in the group (they finish on their own).
//
// A primary include (primary) is not answered with a held failure: a page
// whose primary fails is a 503, so it calls again — one call at a time,
// shared with every request that comes while it runs — rather than fail
// every page for the rest of the hold.
//
// Join runs past a screen because every case of an existing flight is
// decided under the one shard lock, which must not be dropped in between.
func (g *Group[E, W]) Join(p *Party[E, W], key string, until time.Time, primary bool, since time.Time, cb W, start func(*Flight[E, W]), recheck func() *E) (counted *Flight[E, W]) {
	sh := g.shardOf(key)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[string]*Flight[E, W])
	}
	if f, ok := sh.m[key]; ok && !since.IsZero() {
		f.mu.Lock()
		if !f.done && (f.started.IsZero() || !f.started.Before(since)) {
			f.waiters = append(f.waiters, cb)
			counted = f.count(p, cb, until)
			f.mu.Unlock()
			sh.mu.Unlock()
			return counted
		}
		f.mu.Unlock()
	} else if ok {
		f.mu.Lock()
		if !f.done && !f.shed && !(f.expired && time.Now().After(f.retryAt)) {
			if !cb.None() {
				f.waiters = append(f.waiters, cb)
			}
			counted = f.count(p, cb, until)
			f.mu.Unlock()
			sh.mu.Unlock()
			return counted
		}
		e, err, held := f.entry, f.err, f.done && !primary && time.Now().Before(f.heldUntil)
		f.mu.Unlock()
		if e != nil {
			// Done, and parked until its entry is in L1: take it.
			sh.mu.Unlock()
			if !cb.None() {
				cb.Tell(e, nil, true, time.Now())
			}
			return nil
		}
		if held {
			// Failed a moment ago: its failure is the answer until the
			// hold ends (a refresh, cb nil, is simply not made).
			sh.mu.Unlock()
			if !cb.None() {
				cb.Tell(nil, err, false, time.Now())
			}
			return nil
		}
		// Done without an entry, past its hold (or asked for by a primary),
		// shed, or expired long ago: a new call replaces it.
	}
	if recheck != nil {
		if e := recheck(); e != nil {
			sh.mu.Unlock()
			if !cb.None() {
				cb.Tell(e, nil, true, time.Now())
			}
			return nil
		}
	}
	f := &Flight[E, W]{g: sh, key: key}
	if !cb.None() {
		f.waiters = append(f.waiters, cb)
	}
	counted = f.count(p, cb, until)
	sh.m[key] = f
	sh.mu.Unlock()
	start(f)
	return counted
}

// count records a new waiter (with f.mu held): a party's is counted (f is
// returned, for the party to remember) and f waits at least until its
// deadline; any other pins f.
func (f *Flight[E, W]) count(p *Party[E, W], cb W, until time.Time) *Flight[E, W] {
	if p == nil || cb.None() || until.IsZero() {
		f.pinned = true
		return nil
	}
	f.parties++
	if until.After(f.until) {
		f.until = until
	}
	return f
}

// ShedIfLate decides, as the call is about to start, not to make it: when
// every include waiting for it had passed its deadline by now — on a
// saturated machine a call's goroutine can start long after its page gave
// up on it — and keep is false (no cache tier would keep the result for
// the next request), the call is work nobody can use. f is then completed with
// ErrTimeout (the waiters' own deadlines have settled them already, or
// will) and leaves the group; a request joining meanwhile starts a new
// call, with its own deadline. A pinned flight (a refresh, an event's
// call) is always made. It reports whether the call was shed.
func (f *Flight[E, W]) ShedIfLate(now time.Time, keep bool) bool {
	f.mu.Lock()
	if keep || f.pinned || f.done || f.until.IsZero() || now.Before(f.until) {
		f.mu.Unlock()
		return false
	}
	f.shed = true
	f.mu.Unlock()
	f.Complete(nil, ErrTimeout)
	return true
}

// WaitFor is how long the call, starting at now, may wait for the
// composer's slots: until the last include waiting for it gives up, and
// at least the fragment's timeout (a call no request waits for — a
// refresh, an event's — or one whose result a cache tier keeps).
func (f *Flight[E, W]) WaitFor(now time.Time, timeout time.Duration) time.Duration {
	f.mu.Lock()
	until := f.until
	f.mu.Unlock()
	return max(until.Sub(now), timeout)
}

// Running hands the flight its call's cancel function as the call starts.
// It reports false when the flight was abandoned (or completed) before the
// call started: then there is nothing to call for.
func (f *Flight[E, W]) Running(cancel context.CancelCauseFunc) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return false
	}
	f.cancel = cancel
	f.started = time.Now()
	return true
}

// IsDone reports whether the flight has completed.
func (f *Flight[E, W]) IsDone() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

// Complete records the call's result and runs the waiters. Only the first
// completion counts (the fragment returning, or its timeout); complete
// reports whether this one did. A flight completed with an entry stays in
// the group (parked) until forget: joiners get its entry at once, so no
// second call starts between the result and its arrival in L1.
func (f *Flight[E, W]) Complete(e *E, err error) (first bool) {
	return f.completeHeld(e, err, 0)
}

// Fail completes the flight with err and, for hold > 0, keeps it in the
// group for hold (see heldUntil): until then its key is not called again
// here, and joiners get err at once. It reports whether this completion
// was the first; a later one changes nothing.
func (f *Flight[E, W]) Fail(err error, hold time.Duration) (first bool) {
	return f.completeHeld(nil, err, hold)
}

func (f *Flight[E, W]) completeHeld(e *E, err error, hold time.Duration) (first bool) {
	f.once.Do(func() {
		first = true
		held := e == nil && hold > 0
		if e == nil && !held {
			f.Forget()
		}
		now := time.Now()
		f.mu.Lock()
		if held {
			f.heldUntil = now.Add(hold) // with done: a joiner sees both
		}
		f.done, f.entry, f.err = true, e, err
		ws := f.waiters
		f.waiters = nil
		f.mu.Unlock()
		if held {
			// Leave the group when the hold ends, unless replaced by then.
			time.AfterFunc(hold, f.Forget)
		}
		for _, cb := range ws {
			cb.Tell(e, err, false, now)
		}
	})
	return first
}

// Expire tells the waiters so far that the call timed out (at now), and
// keeps the flight joinable until retryAt (or until the call returns). It
// reports whether it did anything (the call had not completed or expired
// yet).
func (f *Flight[E, W]) Expire(now, retryAt time.Time) bool {
	f.mu.Lock()
	if f.done || f.expired {
		f.mu.Unlock()
		return false
	}
	f.expired, f.retryAt = true, retryAt
	ws := f.waiters
	f.waiters = nil
	f.mu.Unlock()
	for _, cb := range ws {
		cb.Tell(nil, ErrTimeout, false, now)
	}
	return true
}

// WasExpired reports whether the call passed its timeout before returning.
func (f *Flight[E, W]) WasExpired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.expired
}

// DropHolds removes from the group every flight on hold after a failed
// call, so that the next request for its key calls again.
func (g *Group[E, W]) DropHolds() {
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		for k, f := range sh.m {
			f.mu.Lock()
			held := f.done && f.entry == nil && !f.heldUntil.IsZero()
			f.mu.Unlock()
			if held {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// Forget removes the flight from its group (if it is still the one there).
func (f *Flight[E, W]) Forget() {
	f.g.mu.Lock()
	if f.g.m[f.key] == f {
		delete(f.g.m, f.key)
	}
	f.g.mu.Unlock()
}

// Len returns how many flights the group holds: running, parked until
// their entry is cached, or on hold after a failure.
func (g *Group[E, W]) Len() int {
	n := 0
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
