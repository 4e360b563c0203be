package composer

import "time"

// settle finishes a node that never started (no notify needed: nobody can
// be waiting for it yet).
func (r *request) settle(n *node, o Outcome, err error) {
	n.outcome = o
	n.err = err
	n.fallback = o == OutcomeFallback
	n.state.Store(done)
	r.observeInclude(n)
}

// finish settles n with an entry. It reports whether it won the race to
// settle n (against its deadline).
func (r *request) finish(n *node, e *Entry, o Outcome, tier Tier, now time.Time) bool {
	if !n.state.CompareAndSwap(pending, claimed) {
		return false
	}
	n.entry = e
	n.outcome = o
	n.tier = tier
	n.dur = r.at(now) - n.started
	if len(n.assets()) > 0 {
		r.anyAssets.Store(true)
	}
	if e.segs != nil && n.stitch == nil {
		n.children = r.children(n, e.segs)
	}
	if o == OutcomeMiss { // before done: Serve must find the level settled
		n.settleLevel(e)
	} else {
		n.settleLevel(nil)
	}
	if n.dur > slowInclude && r.traced() {
		r.includeSpan(n, now) // before done: the page may end right after
	}
	n.state.Store(done)
	r.wake()
	r.observeInclude(n)
	return true
}

// fail settles n, at now, without content: the fallback if it has one,
// else a placeholder.
func (r *request) fail(n *node, o Outcome, err error, now time.Time) bool {
	if !n.state.CompareAndSwap(pending, claimed) {
		return false
	}
	n.outcome = o
	n.err = err
	n.fallback = true
	if n.ref != nil {
		n.dur = r.at(now) - n.started
	}
	n.settleLevel(nil)
	if n.dur > slowInclude && r.traced() {
		r.includeSpan(n, now) // before done: the page may end right after
	}
	n.state.Store(done)
	r.wake()
	r.observeInclude(n)
	return true
}

// settleLevel counts n as settled in its level, once, with e when it was
// rendered for this level.
func (n *node) settleLevel(e *Entry) {
	if l := n.lvl.Load(); l != nil && n.lvlDone.CompareAndSwap(false, true) {
		l.settle(e)
	}
}

// at returns t as the time since the request arrived.
func (r *request) at(t time.Time) time.Duration { return t.Sub(r.start) }

func (r *request) wake() {
	if !r.waiting.Load() {
		return // nobody to wake: the writer is busy, or not started
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// await blocks until n is settled, settling it as timed out when its
// deadline passes first. Before blocking it calls flush (if not nil) so the
// reader sees everything that is ready.
func (r *request) await(n *node, flush func()) {
	for {
		switch n.state.Load() {
		case done:
			return
		case pending:
			// The clock only moves on: once a reading is past n's
			// deadline there is no need for another (a page's writer
			// meets thousands of timed-out includes in a row).
			dl := n.deadlineOf()
			if r.at(r.now) < dl {
				r.now = time.Now()
			}
			if r.at(r.now) >= dl {
				r.fail(n, OutcomeTimeout, errTimeout, r.now)
				continue
			}
		}
		if flush != nil {
			flush()
			flush = nil
		}
		// Say we are waiting, then look again: a finisher stores done and
		// then reads waiting, so one of us sees the other.
		r.waiting.Store(true)
		if n.state.Load() == done {
			r.waiting.Store(false)
			return
		}
		r.now = time.Now()
		wait := n.deadlineOf() - r.at(r.now)
		if wait <= 0 {
			wait = time.Millisecond // claimed: its finisher is moments away
		}
		if r.timer == nil {
			r.timer = time.NewTimer(wait)
		} else {
			r.timer.Reset(wait)
		}
		select {
		case <-r.notify:
		case <-r.timer.C:
		case <-r.ctx.Done():
			r.fail(n, OutcomeTimeout, r.ctx.Err(), time.Now())
		}
		r.timer.Stop()
		r.waiting.Store(false)
	}
}
