package launch

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Context is the context of one fragment call. It is detached from every
// request (one caller leaving must not fail the others), carries the values
// of the call's start (the reader, for fragments that need one), and ends
// at the call's deadline — counted from the moment the fragment is called
// (Begin), not from the moment its goroutine started — or earlier when
// every request waiting for the call has left (Abandon).
//
// Before Begin, the context bounds the call's wait for a slot of the
// composer's (the fragment's MaxConcurrent, the composer's MaxInFlight):
// queueing inside the composer is not the fragment's slowness, so it is
// bounded by how long the waiting includes wait (their page budgets), not
// by the fragment's timeout. Its deadline then is the end of that wait.
//
// It replaces a chain of standard contexts (a cancellation derived from a
// deadline shared by the level's calls, plus an AfterFunc for the flight's
// expiry) that cost a cold 2,000-include page ~10% of its CPU: each call
// registered itself in, and removed itself from, the shared parent's
// children map under its lock. Here a call costs its own struct, channel
// and timer, and the timer also marks the flight expired.
//
// It implements the AfterFunc method that package context looks for, so a
// context a fragment derives from it (context.WithTimeout(ctx, …)) is
// cancelled with it without a goroutine of its own.
type Context struct {
	values context.Context // for Value only: never cancelled
	done   chan struct{}
	timer  *time.Timer
	expire func() // run once at the call's deadline (the flight's expiry)
	begun  atomic.Bool

	mu sync.Mutex
	// deadline is the end of the wait before Begin, then the call's; it
	// moves on while the call is granted grace (see Begin).
	deadline time.Time
	timeout  time.Duration
	late     func() time.Duration // the grace, read at the deadline; nil: none
	graced   time.Duration        // the grace granted so far
	pauses   int                  // pauses not yet resumed (see Pause)
	pausedAt time.Time            // when the clock stopped
	stopped  bool
	err      error // context.DeadlineExceeded or context.Canceled, once done
	cause    error
	afters   []*afterFunc
}

type afterFunc struct{ f func() }

// NewContext returns a call's context that waits for the call to begin
// for at most wait; expire runs when the call's own deadline passes (not
// when the wait ends, nor when the context is abandoned or stopped).
func NewContext(values context.Context, wait time.Duration, expire func()) *Context {
	if values == nil {
		values = context.Background()
	}
	c := &Context{values: values, deadline: time.Now().Add(wait), done: make(chan struct{}), expire: expire}
	c.timer = time.AfterFunc(wait, c.fire)
	return c
}

// Begin starts the call's own clock: the context now ends timeout from
// now. It reports false when the context ended first (the wait passed, or
// the call was abandoned); the call is then not to be made.
//
// When that deadline passes, the call is granted grace: the deadline
// moves on by late() — how late the process's woken goroutines have lately
// run — and again when that passes, while they still run at least
// MinGrace late, up to timeout in all. The timeout bounds the fragment's
// own work; on a saturated machine a call whose answer came in time (a
// backend's reply, a timer) may not have run yet to return it, and that
// wait in Go's run queue is the composer's queueing, not the fragment's
// slowness. A cold 10,000-include page at concurrency 1 lost up to 11% of
// its scores to that wait (60 ms timeouts, calls of 5 ms that ran up to
// 117 ms after they began); with grace, at most 0.5% on a page in three
// runs (BENCHMARKS.md, scores-cold-c1). A fragment that hangs is
// still cut off, at twice its timeout at most, and only while the
// machine is that late. late may be nil: no grace.
func (c *Context) Begin(timeout time.Duration, late func() time.Duration) bool {
	if !c.timer.Stop() {
		return false
	}
	c.begun.Store(true)
	c.mu.Lock()
	c.deadline = time.Now().Add(timeout)
	c.timeout, c.late = timeout, late
	c.mu.Unlock()
	c.timer.Reset(timeout)
	return true
}

// MinGrace is the least lateness that earns a call grace: a quiet
// machine's goroutines run within microseconds, and a deadline moved by
// so little would only fire again.
const MinGrace = time.Millisecond

func (c *Context) fire() {
	if c.begun.Load() && c.extend() {
		return
	}
	c.end(context.DeadlineExceeded, context.DeadlineExceeded)
	if c.expire != nil && c.begun.Load() {
		c.expire()
	}
}

// extend grants the call grace (see Begin) and reports whether it did.
func (c *Context) extend() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.late == nil || c.stopped || c.err != nil {
		return false
	}
	g := min(c.late(), c.timeout-c.graced)
	if g < MinGrace {
		return false
	}
	c.graced += g
	c.deadline = c.deadline.Add(g)
	c.timer.Reset(g)
	return true
}

// Pause stops the call's clock until resume is called: the deadline then
// moves on by the time in between, time the call spent on what is not its
// fragment's work, such as connecting to the fragment's service (see
// composer.Pause). Pauses may overlap; the clock runs again when the last
// one ends. Before Begin (the wait for slots is bounded apart), once the
// context has ended, or while its deadline fires, it pauses nothing.
func (c *Context) Pause() (resume func()) {
	if !c.begun.Load() {
		return func() {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.err != nil || c.pauses == 0 && !c.timer.Stop() {
		return func() {}
	}
	if c.pauses == 0 {
		c.pausedAt = time.Now()
	}
	c.pauses++
	var once sync.Once
	return func() { once.Do(c.resume) }
}

func (c *Context) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pauses--
	if c.pauses > 0 || c.stopped || c.err != nil {
		return
	}
	c.deadline = c.deadline.Add(time.Since(c.pausedAt))
	c.timer.Reset(time.Until(c.deadline))
}

// FromContext returns the call's Context that ctx is or derives from, or
// nil when ctx is not a call's.
func FromContext(ctx context.Context) *Context {
	c, _ := ctx.Value(selfKey{}).(*Context)
	return c
}

// selfKey is the key under which a Context gives itself (FromContext).
type selfKey struct{}

// Abandon ends the context because nobody waits for the call any more.
func (c *Context) Abandon(cause error) { c.end(context.Canceled, cause) }

// Stop ends the context when the call returns, without running expire.
func (c *Context) Stop() {
	c.mu.Lock()
	c.stopped = true       // no grace from now on: the timer stays stopped
	paused := c.pauses > 0 // the timer was stopped by Pause
	c.mu.Unlock()
	if c.timer.Stop() || paused {
		c.end(context.Canceled, context.Canceled)
	}
}

func (c *Context) end(err, cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err, c.cause = err, cause
	close(c.done)
	afters := c.afters
	c.afters = nil
	c.mu.Unlock()
	for _, a := range afters {
		go a.f()
	}
}

// Cause is why the context ended (nil while it has not).
func (c *Context) Cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

func (c *Context) Done() <-chan struct{} { return c.done }

// Value returns the value of the call's start for key, or c itself for
// FromContext's key.
func (c *Context) Value(key any) any {
	if _, ok := key.(selfKey); ok {
		return c
	}
	return c.values.Value(key)
}

func (c *Context) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

func (c *Context) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc arranges for f to run in its own goroutine once c ends, as
// context.AfterFunc does; package context uses it for contexts derived
// from c.
func (c *Context) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f: f}
	c.afters = append(c.afters, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.afters {
			if x == a {
				c.afters = append(c.afters[:i], c.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}
