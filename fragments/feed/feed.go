// Package feed is Broadsheet's simulated newsroom: stories, city weather, a
// live football league, a most-read ranking and market prices, all computed
// in-process and deterministically from a fixed seed and the clock. It never
// touches the network.
//
// Every call that returns data takes a context and first waits for the
// simulated latency of the feed (see Options), so that fragments built on it
// behave like fragments built on a real backend: they can be slow, and they
// must honour their deadline. With zero latency no call ever sleeps, which is
// what tests and benchmarks use.
//
// All functions and methods are safe for concurrent use. Returned values are
// copies, except slices inside them (Story.Body, Weather.Forecast), which are
// shared and must not be modified.
package feed

import (
	"context"
	"sync/atomic"
	"time"
)

// Options tune the simulated latency and the clock of a Feed.
type Options struct {
	// Latency is added to every call. Zero means no sleep at all.
	Latency time.Duration
	// SlowEvery makes one call in SlowEvery slow (counted across the
	// Feed, deterministically). Zero or less disables slow calls.
	SlowEvery int
	// SlowLatency is added to the slow calls.
	SlowLatency time.Duration
	// HangEvery makes one call in HangEvery hang until its context ends
	// (counted like SlowEvery). Zero or less disables hanging calls.
	HangEvery int
	// Now is the feed's clock; nil means time.Now.
	Now func() time.Time
}

// DefaultOptions are the options of Default: a fast backend with an
// occasional slow call, enough to exercise timeouts and fallbacks.
var DefaultOptions = Options{
	Latency:     2 * time.Millisecond,
	SlowEvery:   50,
	SlowLatency: 120 * time.Millisecond,
}

// Feed is one simulated backend. Its data depends only on its clock; its
// options may be replaced at any time with Configure.
type Feed struct {
	opts  atomic.Pointer[Options]
	calls atomic.Uint64
}

// New returns a Feed with the given options.
func New(o Options) *Feed {
	f := &Feed{}
	f.Configure(o)
	return f
}

// Default is the feed the fragments use.
var Default = New(DefaultOptions)

// Configure replaces the options of Default. It is safe to call while
// fragments are running: calls already waiting keep their old latency.
func Configure(o Options) { Default.Configure(o) }

// Configure replaces f's options. It is safe for concurrent use.
func (f *Feed) Configure(o Options) {
	f.opts.Store(&o)
}

// Now returns the current time on f's clock.
func (f *Feed) Now() time.Time {
	if now := f.opts.Load().Now; now != nil {
		return now()
	}
	return time.Now()
}

// Now returns the current time on Default's clock.
func Now() time.Time { return Default.Now() }

// wait sleeps for the simulated latency of one call, or until ctx ends, in
// which case it returns ctx.Err(). It returns ctx.Err() at once when ctx has
// already ended, even with zero latency.
func (f *Feed) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := f.opts.Load()
	d := o.Latency
	n := f.calls.Add(1)
	if o.SlowEvery > 0 && n%uint64(o.SlowEvery) == 0 {
		d += o.SlowLatency
	}
	if o.HangEvery > 0 && n%uint64(o.HangEvery) == 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	if answered(t.C, ctx.Done()) {
		return nil
	}
	return ctx.Err()
}

// answered waits for the answer (timer) or the end of the call (done) and
// reports whether the answer came. When both are ready — a goroutine woken
// late on a busy machine finds them so — the answer wins: a bare select
// would pick one at random and fail, one time in two, a call whose answer
// was ready in time.
func answered(timer <-chan time.Time, done <-chan struct{}) bool {
	select {
	case <-timer:
		return true
	case <-done:
		select {
		case <-timer:
			return true
		default:
			return false
		}
	}
}

// hash mixes a string and some numbers into a well-distributed uint64. It is
// the only source of variation in the feed besides the fixed story seed.
func hash(s string, n ...uint64) uint64 {
	x := uint64(14695981039346656037) // FNV-1a, 64 bits
	for i := 0; i < len(s); i++ {
		x ^= uint64(s[i])
		x *= 1099511628211
	}
	for _, v := range n {
		x = splitmix(x ^ splitmix(v+0x9e3779b97f4a7c15))
	}
	return splitmix(x)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }
