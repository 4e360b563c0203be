package composer

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/broadsheet/broadsheet/composer/internal/launch"
)

// Pause stops the clock of the fragment call running under ctx until
// resume is called: the call's deadline then moves on by the time in
// between, time the call spent on what is not its fragment's work. The
// remote client pauses while it connects to a service, as nginx keeps
// proxy_connect_timeout apart from proxy_read_timeout: a timeout bounds
// the fragment's answer, and a connection made on a cold start, while the
// composer's own goroutines crowd the CPU, is the composer's to wait for
// (a dial has a bound of its own). The include still never waits past its
// page's budget. Outside a composer's call, Pause pauses nothing.
func Pause(ctx context.Context) (resume func()) {
	if c := launch.FromContext(ctx); c != nil {
		return c.Pause()
	}
	return func() {}
}

// callNow runs a fragment for flight s.fl, on a goroutine of its own, under
// s.ctx: a context detached from every request (one caller leaving must
// not fail the others) that ends at the fragment's timeout, or earlier when
// every request waiting for the call has gone away (see party). The flight
// completes when the fragment returns or s.ctx ends, whichever is first; a
// fragment that ignores its context keeps its slot in c.runs until it
// returns, which is what bounds abandoned work. A call that ends without a
// result releases the cross-instance lock it holds, so that an instance
// waiting for it takes over at once rather than when the lock expires.
//
// Calls are started through the launcher (see callAll); callNow is one
// call's goroutine.
//
// It runs past a screen because its steps share the call's context, slots
// and memory account, each released by a defer in the order taken.
func (c *Composer) callNow(s *start) {
	defer c.bg.Done()
	defer c.launcher.Finished()
	now := time.Now()
	c.launcher.Started(now)
	f, fl := s.f, s.fl
	// Checked again here, not only when the start left the queue: the
	// goroutine itself may have waited to run past its waiters' deadlines.
	if c.shed(s, now) {
		return
	}
	// The call's context: its own cancellation, for when every request
	// waiting for it has left; s.ctx's values; and its own deadline,
	// counted from the moment the fragment is called (begin), after any
	// wait for the composer's slots — that wait is bounded by how long
	// the includes waiting for the call wait, not by the fragment's
	// timeout. At the deadline — moved on once by how late woken
	// goroutines have lately run, time the fragment did not have (see
	// launch.Context.Begin) — the flight expires, even if the fragment
	// ignores its context.
	ctx := launch.NewContext(s.ctx, fl.WaitFor(now, f.Settings.Timeout), func() {
		now := time.Now()
		if fl.Expire(now, now.Add(retryAfterTimeouts*f.Settings.Timeout)) {
			c.stats.Abandoned.Add(1)
		}
	})
	defer ctx.Stop()
	if !fl.Running(ctx.Abandon) {
		c.unlock(s) // abandoned before it started
		return
	}
	sem, err := c.acquire(ctx, f)
	if err == nil && !ctx.Begin(f.Settings.Timeout, c.late) {
		c.release(sem) // the wait ended as the slots came
		c.stats.Overloaded.Add(1)
		err = errOverloaded
	}
	if err != nil {
		fl.Complete(nil, err)
		c.unlock(s)
		return
	}
	defer c.release(sem)
	c.stats.Calls.Add(1)
	if s.refresh {
		c.stats.Refreshes.Add(1)
	}
	c.stats.InFlight.Add(1)
	defer c.stats.InFlight.Add(-1)
	t0 := time.Now()
	mem := &callBytes{b: &c.composing}
	defer mem.done()
	html, spans, raw, err := c.render(ctx, f, s.p, f.Settings.EffectiveMaxBytes(s.site.Limits), mem)
	var segs []segment
	if err == nil {
		segs, err = parseBounded(mem, s.site, f.Spec, html, spans)
	}
	if err != nil {
		if errors.Is(ctx.Cause(), errAbandoned) || errors.Is(err, errBusy) {
			fl.Complete(nil, err)
			c.countRefused(ctx.Cause())
			c.unlock(s)
			return
		}
		c.failed(s, err)
		return
	}
	c.succeeded(s, t0, html, raw, segs)
}

// succeeded completes s's flight with the entry its call made at t0, and
// sends the entry on to L1 and, when no page level will, to the Store.
func (c *Composer) succeeded(s *start, t0 time.Time, html []byte, raw *Raw, segs []segment) {
	f, fl := s.f, s.fl
	fresh, stale := freshness(f, raw)
	e := &Entry{
		Key:        s.key,
		Version:    s.version,
		HTML:       html,
		Assets:     AssetsOf(f.Spec, raw),
		Created:    t0,
		FreshUntil: t0.Add(fresh),
		StaleUntil: t0.Add(fresh + stale),
	}
	e.segs = segs
	if s.locked {
		e.lockedUntil = s.lockedUntil.UnixNano()
	}
	cacheable := fresh+stale > 0 && !f.Spec.perUser()
	if !cacheable {
		e.written.Store(true)
	}
	late := fl.WasExpired() // its first waiters had their answer: no level writes it
	first := fl.Complete(e, nil)
	if !cacheable || c.l1 == nil {
		fl.Forget()
	} else if first {
		c.l1w.Add(e, fl)
	} else {
		c.l1w.Add(e, nil) // replaced meanwhile; the result still fills the cache
	}
	// A level writes e back only if the include that started the call
	// was still waiting for it (complete ran its callback, which
	// settled e into the level): a call that outlived every waiter's
	// deadline, replaced one, or refreshes is written here, so that
	// instances waiting for this one's result find it in the Store.
	// An event's call is written by Refresh, unless it came too late.
	if cacheable && (late || !first || (!s.event && !e.written.Load())) {
		c.writeLater(e)
	}
}

// failed completes s's flight with the error of its call and holds the
// key for the fragment's FailHold: here (the flight stays in the group),
// and on the other instances through the lock this one holds, which
// becomes a failure marker for as long. An event's call (Refresh) is not
// held: its caller gets the error and decides.
func (c *Composer) failed(s *start, err error) {
	hold := s.f.Settings.EffectiveFailHold()
	if s.event {
		hold = 0
	}
	s.fl.Fail(err, hold)
	if hold > 0 {
		c.stats.FailHolds.Add(1)
		c.holdFailure(s, hold)
		return
	}
	c.unlock(s)
}

// keeps reports whether a cache tier here could keep a result of f's call
// for later requests: it has one, f's results are shared, and they get a
// lifetime — from f's settings, or from the fragment's own answer unless
// the operator has set both.
func (c *Composer) keeps(f *Fragment) bool {
	if (c.l1 == nil && c.store == nil) || f.Spec.perUser() {
		return false
	}
	return f.Settings.Fresh+f.Settings.Stale > 0 || mayOwnFreshness(f)
}

// acquire takes a slot of the fragment's own (MaxConcurrent, else a
// quarter of MaxInFlight), then one of its Group's (GroupLimit: a remote
// service's requests in flight), then a global one, each waiting no longer
// than ctx allows (until the includes waiting for the call give up): a
// call that cannot start in time is refused, and its include gets its
// fallback, rather than queueing past its deadline. The wait is the
// composer's queueing, not the fragment's slowness: the call's timeout
// starts after it (see callNow).
func (c *Composer) acquire(ctx context.Context, f *Fragment) (slots, error) {
	// The fragment's own slot first, then its group's, then one of the
	// composer's: a call waiting for a narrower slot must not hold a
	// wider one meanwhile. It did: a 10,000-include page's score calls,
	// queued behind score's quarter of the slots, held the rest, and the
	// page's scoreboard — another fragment, a primary — was refused (a 503).
	v, ok := c.perFrag.Load(f.Spec.Name)
	if !ok {
		limit := f.Spec.MaxConcurrent
		if limit <= 0 {
			// No fragment may take more than a quarter of the slots: one
			// that hangs must not starve the others.
			limit = max(1, c.opts.MaxInFlight/4)
		}
		v, _ = c.perFrag.LoadOrStore(f.Spec.Name, semaphore.NewWeighted(int64(limit)))
	}
	var sl slots
	for _, sem := range [...]*semaphore.Weighted{v.(*semaphore.Weighted), c.group(f.Spec), c.runs} {
		if sem == nil {
			continue
		}
		if !sem.TryAcquire(1) {
			if err := sem.Acquire(ctx, 1); err != nil {
				c.release(sl)
				c.stats.Overloaded.Add(1)
				return slots{}, errOverloaded
			}
		}
		sl.held[sl.n] = sem
		sl.n++
	}
	return sl, nil
}

// slots are the semaphores acquire took, to be released together.
type slots struct {
	held [3]*semaphore.Weighted
	n    int
}

// group returns the semaphore of s's Group (nil: none). A group's limit
// is its first fragment's GroupLimit.
func (c *Composer) group(s *Spec) *semaphore.Weighted {
	if s.Group == "" || s.GroupLimit <= 0 {
		return nil
	}
	if v, ok := c.groups.Load(s.Group); ok {
		return v.(*semaphore.Weighted)
	}
	v, _ := c.groups.LoadOrStore(s.Group, semaphore.NewWeighted(int64(s.GroupLimit)))
	return v.(*semaphore.Weighted)
}

// release gives back the slots acquire took.
func (c *Composer) release(sl slots) {
	for _, sem := range sl.held[:sl.n] {
		sem.Release(1)
	}
}

// retryAfterTimeouts is how many timeouts a call past its timeout keeps its
// key before a new call may replace it.
const retryAfterTimeouts = 10

var errOverloaded = errors.New("composer: too many fragment calls in flight")
