package composer

import (
	"context"
	"errors"
	"time"
)

// start is a fragment call a flight is waiting to launch.
type start struct {
	fl *flight
	// ctx gives the call its values (the reader), nil for none; the call
	// makes its own deadline and cancellation (see launch.Context).
	ctx     context.Context
	site    *Site
	f       *Fragment
	p       Params
	key     string
	version string
	// since, for a refresh, is when the entry being refreshed was made: a
	// result from another instance counts only if it is newer.
	since   time.Time
	refresh bool
	// event marks a call made by Refresh, which stores the result itself.
	event bool
	// node is the include whose lookup started the call (nil for
	// refreshes): its level writes the result back.
	node *node
	// primary: the call is for a primary include, which does not take
	// another instance's failure hold for an answer (see flights.join).
	primary bool
	// locked is set when this instance holds the key's cross-instance
	// lock for the call, until lockedUntil at the latest; waitUntil
	// bounds a wait for another instance.
	locked      bool
	lockedUntil time.Time
	waitUntil   time.Time
}

// fetch joins the call for n's key, sharing it with any other request for
// the same key; a call this request has to start is added to starts, to be
// launched with the rest of its level, and the flight its party now waits
// for to joined (see party.addAll). n's deadline is enforced by whoever
// waits for n (the writer, or the primaries' wait), so nothing here needs a
// timer of its own.
func (r *request) fetch(n *node, starts *[]*start, joined *[]*flight) {
	r.escaped.Store(true)
	f := n.frag
	key := n.ref.key
	if f.Spec.NeedsReader {
		// The reader's own call: never shared with another reader's (its
		// context gets the reader when it starts, in resolve).
		key += "\x00reader=" + r.reader
	}
	var recheck func() *Entry
	if r.c.l1 != nil && !f.Spec.perUser() {
		version := r.c.version(f)
		recheck = func() *Entry {
			if e, ok := r.c.inL1(key, version); ok && time.Now().Before(e.FreshUntil) {
				return e
			}
			return nil
		}
	}
	created := false
	fl := r.c.flights.Join(r.party, key, r.start.Add(n.deadlineOf()), n.primary, time.Time{}, waiter{r: r, n: n}, func(fl *flight) {
		created = true
		*starts = append(*starts, &start{fl: fl, site: r.site, f: f,
			p: n.ref.params, key: key, version: r.c.version(f), node: n, primary: n.primary})
	}, recheck)
	if fl != nil {
		*joined = append(*joined, fl)
		if !created && fl.WasExpired() {
			r.joinedLate(n, time.Now())
		}
	}
}

// done settles n with the result of its fragment call. It runs on the
// call's goroutine and must not block: a nested level is resolved on a
// goroutine of its own.
func (r *request) done(n *node, e *Entry, err error, parked bool, now time.Time) {
	if err != nil {
		o := OutcomeError
		if errors.Is(err, errTimeout) {
			if r.rejoin(n, now) {
				return
			}
			o = OutcomeTimeout
		}
		r.fail(n, o, err, now)
		return
	}
	o, tier := OutcomeMiss, TierCall
	if parked {
		o, tier = OutcomeHit, TierL1
	}
	if r.finish(n, e, o, tier, now) && n.children != nil && r.ctx.Err() == nil {
		// Counted in c.bg like the call it runs on (so the count is
		// above zero here): Close waits for it, and its own calls are
		// added to c.bg before that wait can end.
		r.c.bg.Add(1)
		go func() {
			defer r.c.bg.Done()
			r.resolve([][]node{n.children})
		}()
	}
}

// rejoin keeps a page's primary waiting, up to the budget, for a call
// that passed its fragment's timeout: such a call goes on (its flight
// stays joinable, see flights), and on a saturated machine it is often
// only late in being scheduled — its result, when it comes, should be the
// page rather than a 503. Other includes take their fallback at their
// deadline. It reports whether n waits again (a new call, should the
// flight be gone, starts like any other).
func (r *request) rejoin(n *node, now time.Time) bool {
	if !(n.primary && n.depth == 1) || r.ctx.Err() != nil || r.at(now) >= n.deadlineOf() || n.state.Load() != pending {
		return false
	}
	select {
	case <-r.c.closed: // closing ends remote waits with errTimeout: no new ones
		return false
	default:
	}
	var starts []*start
	var joined []*flight
	r.fetch(n, &starts, &joined)
	r.party.AddAll(joined)
	if len(starts) > 0 {
		// done must not block: launch may take a lock in the Store. In
		// c.bg, as above.
		r.c.bg.Add(1)
		go func() {
			defer r.c.bg.Done()
			r.c.launch(r.ctx, starts)
		}()
	}
	return true
}

// deadlineOf returns when the writer stops waiting for n.
func (n *node) deadlineOf() time.Duration { return time.Duration(n.deadline.Load()) }

// joinedLate bounds n's wait for a call that had already passed its
// fragment's timeout when n joined it at now (it stays joinable while it
// runs, see flights): the fragment's timeout from now, within the page's
// budget. Any other call tells its waiters at its own deadline, counted
// from the moment the fragment is called (see callNow) — so an include
// waits through the composer's queues as long as its page's budget
// allows, and its timeout bounds only the fragment's own work. A page's
// primary waits up to the budget in any case.
func (r *request) joinedLate(n *node, now time.Time) {
	if n.primary && n.depth == 1 {
		return
	}
	n.deadline.Store(int64(min(r.budget, r.at(now)+n.frag.Settings.Timeout)))
	r.wake() // the writer may be waiting for n, until the budget
}

// fanOut joins (or starts) the calls for the misses of a level: the
// calls this instance makes are launched together, after the level's
// look-ups and locks, and the others wait for another instance's result.
func (r *request) fanOut(misses []*node) {
	var starts []*start
	joined := make([]*flight, 0, len(misses))
	for _, n := range misses {
		r.fetch(n, &starts, &joined)
	}
	r.party.AddAll(joined)
	local, remote := r.c.split(r.ctx, starts)
	if lvl := r.newLevel(len(local)); lvl != nil {
		for _, s := range local {
			s.node.lvl.Store(lvl)
			if s.node.state.Load() != pending {
				// Settled meanwhile (timed out): its finisher may not
				// have seen the level.
				s.node.settleLevel(nil)
			}
		}
	}
	for _, s := range local {
		if s.f.Spec.NeedsReader {
			s.ctx = context.WithValue(context.Background(), readerKey{}, r.reader)
		}
	}
	r.c.callAll(local) // their timeouts count from their starts, after the level's look-ups and locks
	r.c.waitRemote(remote)
}
