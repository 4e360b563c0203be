package composer

import (
	"context"
	"sync"
	"time"
)

// flights deduplicates fragment calls: concurrent lookups of one key share
// one call. It differs from x/sync/singleflight in two ways that matter at
// thousands of includes per page: waiters are callbacks, not goroutines
// blocked on a channel (a cold 2,000-include page would otherwise park
// 2,000 goroutines and timers just to wait), and a call completes at its
// timeout even when the fragment ignores its context. A call past its
// timeout stays joinable while it runs (later requests wait for it within
// their own deadlines instead of piling new calls on a struggling
// fragment), until retryAt: then a new call may replace it, so that one
// call that hangs for ever does not hold its key for ever.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one fragment call and the callbacks waiting for it.
type flight struct {
	once    sync.Once
	g       *flights
	key     string
	mu      sync.Mutex
	waiters []waiter
	done    bool
	entry   *Entry
	err     error
	// expired is set when the call passed its timeout; retryAt is when a
	// new call may replace it.
	expired bool
	retryAt time.Time
}

// waiter is told a call's result. parked reports that the call had
// already completed and its entry was on its way into L1: for the waiter it
// is as good as a cache hit.
type waiter func(e *Entry, err error, parked bool)

// join adds cb to the call for key, starting it with start when there is
// none. It reports whether it started a new call. cb runs exactly once: on
// the goroutine that completes the call (so it must not block), or at once
// when the call is parked.
//
// recheck, when not nil, is asked for a cached entry before a new call
// starts, under the group's lock. This is groupcache's double check: the
// caller looked in L1 before joining (and maybe in Redis, which takes a
// while), and a call for the key may have completed meanwhile and put its
// entry in L1. Flights leave the group only after their entry is in L1,
// under the same lock, so an absent flight and a nil recheck together mean
// there really is nothing: no duplicate call slips through.
func (g *flights) join(key string, cb waiter, start func(*flight), recheck func() *Entry) bool {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	if f, ok := g.m[key]; ok {
		f.mu.Lock()
		if !f.done && !(f.expired && time.Now().After(f.retryAt)) {
			if cb != nil {
				f.waiters = append(f.waiters, cb)
			}
			f.mu.Unlock()
			g.mu.Unlock()
			return false
		}
		e := f.entry
		f.mu.Unlock()
		if e != nil {
			// Done, and parked until its entry is in L1: take it.
			g.mu.Unlock()
			if cb != nil {
				cb(e, nil, true)
			}
			return false
		}
		// Done without an entry, or expired long ago: a new call replaces it.
	}
	if recheck != nil {
		if e := recheck(); e != nil {
			g.mu.Unlock()
			if cb != nil {
				cb(e, nil, true)
			}
			return false
		}
	}
	f := &flight{g: g, key: key}
	if cb != nil {
		f.waiters = append(f.waiters, cb)
	}
	g.m[key] = f
	g.mu.Unlock()
	start(f)
	return true
}

// complete records the call's result and runs the waiters. Only the first
// completion counts (the fragment returning, or its timeout); complete
// reports whether this one did. A flight completed with an entry stays in
// the group (parked) until forget: joiners get its entry at once, so no
// second call starts between the result and its arrival in L1.
func (f *flight) complete(e *Entry, err error) (first bool) {
	f.once.Do(func() {
		first = true
		if e == nil {
			f.forget()
		}
		f.mu.Lock()
		f.done, f.entry, f.err = true, e, err
		ws := f.waiters
		f.waiters = nil
		f.mu.Unlock()
		for _, cb := range ws {
			cb(e, err, false)
		}
	})
	return first
}

// expire tells the waiters so far that the call timed out, and keeps the
// flight joinable until retryAt (or until the call returns). It reports
// whether it did anything (the call had not completed or expired yet).
func (f *flight) expire(retryAt time.Time) bool {
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
		cb(nil, errTimeout, false)
	}
	return true
}

// wasExpired reports whether the call passed its timeout before returning.
func (f *flight) wasExpired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.expired
}

// forget removes the flight from its group (if it is still the one there).
func (f *flight) forget() {
	f.g.mu.Lock()
	if f.g.m[f.key] == f {
		delete(f.g.m, f.key)
	}
	f.g.mu.Unlock()
}

// levelContexts hands out detached contexts by timeout, so that the misses
// of one page level that share a timeout share one context (and one timer)
// rather than making one each.
type levelContexts struct {
	now  time.Time
	ctxs map[time.Duration]context.Context
}

func (l *levelContexts) get(timeout time.Duration) context.Context {
	if ctx, ok := l.ctxs[timeout]; ok {
		return ctx
	}
	if l.ctxs == nil {
		l.ctxs = make(map[time.Duration]context.Context, 2)
	}
	l.ctxs[timeout] = detached(l.now.Add(timeout))
	return l.ctxs[timeout]
}

// detached returns a context that is not any request's and ends by itself
// at deadline, releasing its timer then.
func detached(deadline time.Time) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	context.AfterFunc(ctx, cancel)
	return ctx
}
