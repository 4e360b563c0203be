package composer

import (
	"context"
	"time"

	fg "github.com/broadsheet/broadsheet/composer/internal/flight"
)

// The composer's fragment calls are coalesced by package flight: one call
// per key, its result told to every include waiting for it.
type (
	flights = fg.Group[Entry, waiter]
	flight  = fg.Flight[Entry, waiter]
	party   = fg.Party[Entry, waiter]
)

var (
	// errAbandoned completes a flight whose waiters all went away.
	errAbandoned = fg.ErrAbandoned
	// errServed is the cause with which Serve ends a request's context
	// once the page has been written, as opposed to the client going
	// away: calls still running for its late includes run on.
	errServed = fg.ErrServed
	// errTimeout settles an include whose call passed its timeout (or was
	// shed: see flight.ShedIfLate).
	errTimeout = fg.ErrTimeout
)

func newParty(ctx context.Context) *party { return fg.NewParty[Entry, waiter](ctx) }

// waiter is told a call's result: an include of a page (r and n — the
// common case, thousands per page, told without a closure of its own) or
// any other caller (fn). See flight.Waiter.
type waiter struct {
	r  *request
	n  *node
	fn func(e *Entry, err error, parked bool, now time.Time)
}

// None reports the zero waiter (a refresh's call, which nobody waits for).
func (w waiter) None() bool { return w.r == nil && w.fn == nil }

// Tell gives w the call's result. It runs on the goroutine that completed
// the call and must not block.
func (w waiter) Tell(e *Entry, err error, parked bool, now time.Time) {
	if w.r != nil {
		w.r.done(w.n, e, err, parked, now)
		return
	}
	w.fn(e, err, parked, now)
}
