package composer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"
	"github.com/maypok86/otter/v2"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
	"golang.org/x/sync/semaphore"
)

// Options configure a Composer. The zero value is usable.
type Options struct {
	// L1Bytes bounds the in-process tier; 0 means 64 MiB. Negative turns the
	// in-process tier off (every lookup goes to the Store).
	L1Bytes int64
	// StitchBytes bounds the memory of stitched subtrees, kept beside the
	// in-process tier (see stitch.go); 0 means a quarter of L1Bytes,
	// negative keeps none (every include is looked up on every request).
	StitchBytes int64
	// ComposeBytes bounds the memory of the fragment results being made
	// (see budget.go): past the first 64 KiB of each call's output, and
	// the parse of its includes, a call that finds no room is refused at
	// once, like a call refused a slot (MaxInFlight). 0 means 32 MiB;
	// negative means no bound.
	ComposeBytes int64
	// MaxIncludesInFlight bounds the includes of the pages being composed
	// at once, each page counted at what it had recently (see admit.go): a
	// page that does not fit is refused at once with a 503. 0 means
	// DefaultMaxIncludesInFlight; negative means no bound.
	MaxIncludesInFlight int64
	// Store is the shared tier (Redis); nil runs on the in-process tier alone.
	Store Store
	// MaxInFlight bounds fragment calls in flight, including the ones left
	// running in the background by includes that missed their deadline;
	// one fragment may use a quarter of them unless its Spec says otherwise.
	// A call waits for a slot no longer than its timeout. 0 means 16384.
	MaxInFlight int
	// SchedTarget is how long the process's goroutines may wait to run
	// (the 90th percentile of the Go runtime's scheduling latency over
	// 50 ms) before the composer lowers its limit of fragment calls in
	// flight, so that a page's own work (its writer, its primaries, new
	// requests) is not queued behind more calls than the processors can
	// run. Calls over the limit wait in order, and are shed when every
	// include waiting for them has given up. 0 means 40 ms; negative
	// turns the adaptive limit off (MaxInFlight alone bounds calls).
	SchedTarget time.Duration
	// Layouts by name.
	Layouts map[string]Layout
	// ErrorPage renders the readable page of a 4xx or 5xx answer.
	ErrorPage func(status int, title, message string) templ.Component
	// Observer receives per-include and per-page figures; nil ignores them.
	Observer Observer
	Logger   *slog.Logger
}

// Observer is told what happened to every include and page. Its methods are
// called concurrently, on the request's hot path: they must not block and
// should not allocate.
type Observer interface {
	Include(ev IncludeEvent)
	Page(page string, status int, d time.Duration)
}

// IncludeBatcher is an Observer that takes includes in batches. The
// composer then collects a request's includes and hands them over together
// (a batch at most observeBatch long, the rest when the page ends), so that
// a page of thousands of includes costs its Observer one call, one clock
// reading and one lock per batch instead of per include. An include
// settled after its page ended is still passed to Include.
type IncludeBatcher interface {
	Observer
	// Includes records evs; the slice is reused after the call returns.
	Includes(evs []IncludeEvent)
}

// IncludeEvent is what happened to one include.
type IncludeEvent struct {
	Fragment string
	Outcome  Outcome
	// Tier says where content came from: TierL1 or TierStore for a hit or
	// stale, TierCall for a miss; TierNone when no content was served.
	Tier     Tier
	Duration time.Duration
	// Err is why the include failed (timeout, error, placeholder).
	Err error
	// Count is how many includes alike the event stands for: 0 or 1 for
	// one; more for the includes of one fragment in a stitched subtree
	// (see stitch.go), served together with their parent and reported
	// with its outcome, tier and duration.
	Count int
}

// N returns how many includes ev stands for.
func (ev *IncludeEvent) N() int { return max(ev.Count, 1) }

// Tier names where an include's content came from.
type Tier uint8

// The tiers.
const (
	TierNone Tier = iota
	TierL1
	TierStore
	TierCall
)

var tierNames = [...]string{"none", "l1", "redis", "call"}

func (t Tier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return "unknown"
}

// Composer composes pages. It is safe for concurrent use; Close releases its
// background goroutines.
type Composer struct {
	site      atomic.Pointer[Site]
	opts      Options
	l1        *l1
	store     Store
	flights   flights
	launcher  *launcher
	remote    remoteWaits         // starts waiting for another instance's call
	lookups   lookups             // Store look-ups in progress, shared
	refreshes refreshQueue        // refreshes about to be launched
	holder    string              // names this instance to the Store's locks
	gens      sync.Map            // fragment name → *genVersion, once purged
	purged    atomic.Bool         // some fragment has a generation
	siteAt    atomic.Int64        // when SetSite last ran (Unix ns), 0 never
	runs      *semaphore.Weighted // one unit per fragment call in flight
	composing byteBudget          // bytes of results being made (ComposeBytes)
	admission admission           // includes of the pages in flight (MaxIncludesInFlight)
	perFrag   sync.Map            // fragment name → *semaphore.Weighted (MaxConcurrent)
	groups    sync.Map            // Spec.Group → *semaphore.Weighted (GroupLimit)
	log       *slog.Logger
	stats     Stats
	batcher   IncludeBatcher // opts.Observer, when it takes batches
	pages     *pageStitch    // stitched pages (nil: none kept)
	wb        *writeBack
	l1w       *l1Writer
	parsed    *otter.Cache[string, parsedEntry] // parses of Store entries, without L1
	closed    chan struct{}
	bg        sync.WaitGroup
}

// Stats are the composer's counters since it started.
type Stats struct {
	Calls     atomic.Int64 // fragment calls started
	Panics    atomic.Int64 // fragment calls that panicked
	Abandoned atomic.Int64 // calls that outlived their timeout
	// Shed counts calls not made because every include waiting for them
	// had passed its deadline before they could start, with no cache tier
	// to keep the result (see flight.shedIfLate).
	Shed      atomic.Int64
	InFlight  atomic.Int64 // fragment calls running now
	Oversized atomic.Int64 // results over their cap (Settings.EffectiveMaxBytes)
	Refreshes atomic.Int64 // stale-while-revalidate refresh calls made here
	StoreHits atomic.Int64
	StoreMiss atomic.Int64
	// StoreRefused counts values read from the Store that a fresh render
	// could not have made (in StoreMiss; see admitStored).
	StoreRefused atomic.Int64
	StoreErrs    atomic.Int64
	Overruns     atomic.Int64 // pages finished after budget + 10 ms
	Overloaded   atomic.Int64 // calls refused because MaxInFlight was reached
	// Cancelled counts calls whose context was cancelled because every
	// request waiting for them had gone away (their clients left).
	Cancelled atomic.Int64
	// Busy counts calls refused because the results being made already
	// held Options.ComposeBytes (see budget.go).
	Busy atomic.Int64
	// Refused counts pages refused because their expected includes did
	// not fit beside those in flight (Options.MaxIncludesInFlight).
	Refused atomic.Int64
	// RemoteWaits counts calls left to another instance that held the
	// lock (or whose lock call timed out: the lock is tried again while
	// waiting); RemoteTakeovers those made here after all, the holder's
	// lock having gone without its result reaching the Store.
	RemoteWaits     atomic.Int64
	RemoteTakeovers atomic.Int64
	// Normalized counts values (fresh renders and entries read from the
	// Store) whose HTML was rewritten to close what it opened and drop
	// what it closed without opening (see normalize.go).
	Normalized atomic.Int64
	// FailHolds counts calls that failed and put their key on hold
	// (Settings.FailHold); RemoteFailures keys found on hold because
	// another instance's call failed.
	FailHolds      atomic.Int64
	RemoteFailures atomic.Int64
	// Stitched counts includes served inside a stitched subtree, with no
	// look-up of their own (see stitch.go).
	Stitched atomic.Int64
	// CallLimit is the launcher's limit of calls in flight now, adapted to
	// the scheduling latency (Options.SchedTarget; see calllimit.go).
	CallLimit atomic.Int64
}

// New returns a Composer serving site.
func New(site *Site, opts Options) *Composer {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 16384
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Composer{
		opts:   opts,
		store:  opts.Store,
		runs:   semaphore.NewWeighted(int64(opts.MaxInFlight)),
		log:    opts.Logger,
		closed: make(chan struct{}),
		holder: rand.Text(),
	}
	c.admission.limit = opts.MaxIncludesInFlight
	if opts.MaxIncludesInFlight == 0 {
		c.admission.limit = DefaultMaxIncludesInFlight
	}
	c.composing.limit = opts.ComposeBytes
	if opts.ComposeBytes == 0 {
		c.composing.limit = DefaultComposeBytes
	}
	c.launcher = newLauncher(noLimit, newCallLimit(opts.SchedTarget, opts.MaxInFlight, &c.stats))
	c.stats.CallLimit.Store(int64(opts.MaxInFlight))
	c.batcher, _ = opts.Observer.(IncludeBatcher)
	if opts.L1Bytes >= 0 {
		c.l1 = newL1(opts.L1Bytes, opts.StitchBytes)
		c.l1w = newL1Writer(c.l1)
		c.pages = newPageStitch(c.l1)
	} else {
		c.parsed = otter.Must(&otter.Options[string, parsedEntry]{MaximumSize: 1024})
	}
	if c.store != nil {
		c.wb = newWriteBack(c.store, c.log)
	}
	c.site.Store(site)
	return c
}

// Site returns the configuration in force.
func (c *Composer) Site() *Site { return c.site.Load() }

// SetSite replaces the configuration for every later request. Requests in
// progress finish on the one they started with. Keys on hold after a
// failed call (Settings.FailHold) are released, here and, for this
// instance, on the others (their holds from before the change are
// ignored): a new configuration — a longer timeout, a fixed URL — deserves
// a new call at once.
func (c *Composer) SetSite(s *Site) {
	c.site.Store(s)
	c.siteAt.Store(time.Now().UnixNano())
	c.flights.dropHolds()
}

// Stats returns the composer's counters.
func (c *Composer) Stats() *Stats { return &c.stats }

// StitchedBytes returns the memory held by stitched subtrees now (see
// Options.StitchBytes).
func (c *Composer) StitchedBytes() int64 {
	if c.l1 == nil {
		return 0
	}
	return c.l1.stitchBytes.Load()
}

// CacheBytes returns the memory the in-process tier counts now: its
// entries' (see Entry.Size) and the stitched subtrees'.
func (c *Composer) CacheBytes() int64 {
	if c.l1 == nil {
		return 0
	}
	return int64(c.l1.c.WeightedSize()) + c.l1.stitchBytes.Load()
}

// ComposingBytes returns the memory the fragment calls in flight hold
// beyond their allowances (see Options.ComposeBytes).
func (c *Composer) ComposingBytes() int64 { return c.composing.used.Load() }

// Purge drops the in-process entries of a fragment, and the stitched pages
// that held any of them.
func (c *Composer) Purge(fragment string) int {
	if c.l1 == nil {
		return 0
	}
	n := c.l1.purge(fragment)
	c.pages.sweep()
	return n
}

// Close stops background work: fragment calls still running get up to 5 s
// to finish (a call that ignores its context is abandoned), then pending
// write-backs are flushed, each batch within its own deadline. Serve must
// not be called after Close.
func (c *Composer) Close() {
	select {
	case <-c.closed:
		return
	default:
	}
	close(c.closed)
	// Calls still running get a moment to finish and fill the cache; a
	// fragment that ignores its context is not waited for forever.
	done := make(chan struct{})
	go func() {
		c.bg.Wait()
		close(done)
	}()
	t := time.NewTimer(closeWait)
	select {
	case <-done:
	case <-t.C:
		c.log.Warn("composer: closing with fragment calls still running", "in_flight", c.stats.InFlight.Load())
	}
	t.Stop()
	if c.wb != nil {
		c.wb.close() // flushes what is queued, each batch within its deadline
	}
	if c.l1 != nil {
		c.l1w.close()
		c.l1.close()
		c.pages.close()
	}
}

// retryAfterTimeouts is how many timeouts a call past its timeout keeps its
// key before a new call may replace it.
const retryAfterTimeouts = 10

// closeWait bounds how long Close waits for fragment calls to finish.
const closeWait = 5 * time.Second

var (
	errTimeout    = errors.New("composer: fragment timed out")
	errOverloaded = errors.New("composer: too many fragment calls in flight")
	errOversized  = errors.New("composer: fragment output over the size limit")
)

// PanicError is the error of a fragment call that panicked.
type PanicError struct {
	Fragment string
	Value    any
	Stack    []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("composer: fragment %q panicked: %v", e.Fragment, e.Value)
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
func (c *Composer) callNow(s *start) {
	defer c.bg.Done()
	defer c.finished()
	now := time.Now()
	c.started(now)
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
	// timeout. At the deadline the flight expires, even if the fragment
	// ignores its context.
	ctx := newCallCtx(s.ctx, fl.waitFor(now, f.Settings.Timeout), func() {
		now := time.Now()
		if fl.expire(now, now.Add(retryAfterTimeouts*f.Settings.Timeout)) {
			c.stats.Abandoned.Add(1)
		}
	})
	defer ctx.stop()
	if !fl.running(ctx.abandon) {
		c.unlock(s) // abandoned before it started
		return
	}
	sem, err := c.acquire(ctx, f)
	if err == nil && !ctx.begin(f.Settings.Timeout) {
		c.release(sem) // the wait ended as the slots came
		c.stats.Overloaded.Add(1)
		err = errOverloaded
	}
	if err != nil {
		fl.complete(nil, err)
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
			fl.complete(nil, err)
			c.countRefused(ctx.Cause())
			c.unlock(s)
			return
		}
		c.failed(s, err)
		return
	}
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
	cacheable := fresh+stale > 0 && !f.Spec.perUser()
	if !cacheable {
		e.written.Store(true)
	}
	late := fl.wasExpired() // its first waiters had their answer: no level writes it
	first := fl.complete(e, nil)
	if !cacheable || c.l1 == nil {
		fl.forget()
	} else if first {
		c.l1w.add(e, fl)
	} else {
		c.l1w.add(e, nil) // replaced meanwhile; the result still fills the cache
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
	s.fl.fail(err, hold)
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

// render calls the fragment, turning a panic into a *PanicError, and
// normalizes its HTML (see normalize.go), which it returns with the spans
// of its include tags. Its output is bounded by max and by mem.
func (c *Composer) render(ctx context.Context, f *Fragment, p Params, max int, mem *callBytes) (html []byte, spans []htmlnorm.Span, raw *Raw, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.stats.Panics.Add(1)
			pe := &PanicError{Fragment: f.Spec.Name, Value: v, Stack: debug.Stack()}
			c.log.Error("fragment panicked", "fragment", f.Spec.Name, "panic", fmt.Sprint(v), "stack", string(pe.Stack))
			html, spans, raw, err = nil, nil, nil, pe
		}
	}()
	if max <= 0 {
		max = DefaultLimits.MaxFragmentBytes
	}
	html, raw, err = renderFragment(ctx, f.Spec, p, max, mem)
	if err == nil {
		// Normalizing adds the end tags a value left out: a few bytes,
		// which must not take it over the limit either.
		if html, spans, err = c.normalize(html); err == nil && len(html) > max {
			html, spans, raw, err = nil, nil, nil, &OversizeError{Fragment: f.Spec.Name, Size: len(html), Max: max}
		}
	}
	var oe *OversizeError
	if errors.As(err, &oe) {
		c.stats.Oversized.Add(1)
		c.log.Warn("composer: fragment output over its max_bytes: not served",
			"fragment", f.Spec.Name, "bytes", oe.Size, "at_least", oe.AtLeast, "max_bytes", oe.Max)
	}
	return html, spans, raw, err
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

// renderFragment calls the fragment and renders its component, refusing
// output over max bytes (with an *OversizeError), or over what mem allows
// (nil: no bound).
func renderFragment(ctx context.Context, s *Spec, p Params, max int, mem *callBytes) ([]byte, *Raw, error) {
	comp, err := s.Render(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	if comp == nil {
		return nil, nil, nil
	}
	if raw, ok := comp.(*Raw); ok {
		if len(raw.HTML) > max {
			return nil, nil, &OversizeError{Fragment: s.Name, Size: len(raw.HTML), Max: max}
		}
		if mem != nil && !mem.grow(int64(cap(raw.HTML))) {
			return nil, nil, errBusy
		}
		return raw.HTML, raw, nil
	}
	w := &limitedBuffer{max: max, mem: mem}
	err = comp.Render(ctx, w)
	if errors.Is(err, errBusy) {
		return nil, nil, errBusy
	}
	if w.over > 0 {
		return nil, nil, &OversizeError{Fragment: s.Name, Size: w.over, AtLeast: errors.Is(err, errOversized), Max: max}
	}
	if err != nil {
		return nil, nil, err
	}
	return w.buf.Bytes(), nil, nil
}

// OversizeError is the error of a fragment call whose output is over its
// cap (Settings.MaxBytes, else Limits.MaxFragmentBytes).
type OversizeError struct {
	Fragment string
	// Size is how many bytes the fragment wrote; when AtLeast, it wrote
	// more, and counting stopped there.
	Size    int
	AtLeast bool
	Max     int
}

func (e *OversizeError) Error() string {
	more := ""
	if e.AtLeast {
		more = " or more"
	}
	return fmt.Sprintf("composer: fragment %q wrote %d bytes%s, over its max_bytes of %d", e.Fragment, e.Size, more, e.Max)
}

// Unwrap makes errors.Is(err, errOversized) hold.
func (e *OversizeError) Unwrap() error { return errOversized }

// refresh starts a background refresh of stale entry e unless a call for
// its key is in flight. Nothing of it runs on the caller's goroutine. The
// refresh takes the key's cross-instance lock like any call: an instance
// that does not get it makes no call, keeps serving e, and picks up the
// holder's newer entry from the Store (see waitRemote). The refresh is no
// client's: it is never cancelled because one leaves.
func (c *Composer) refresh(site *Site, f *Fragment, p Params, e *Entry) {
	select {
	case <-c.closed:
		return
	default:
	}
	version := c.version(f)
	var recheck func() *Entry
	if c.l1 != nil {
		// The caller read e a moment ago; a refresh of it may have
		// completed (and left the group) since: then there is nothing
		// left to refresh.
		recheck = func() *Entry {
			if cur := c.l1.get(e.Key, version); cur != nil && cur.Created.After(e.Created) {
				return cur
			}
			return nil
		}
	}
	c.flights.join(nil, e.Key, time.Time{}, false, time.Time{}, waiter{}, func(fl *flight) {
		c.refreshes.add(c, &start{fl: fl, site: site, f: f, p: p,
			key: e.Key, version: version, since: e.Created, refresh: true})
	}, recheck)
}

// refreshWindow is how long refreshes gather before they are launched
// together: the stale includes of one page level (a scoreboard's thousand
// scores) then take their locks in one round trip rather than one each.
const refreshWindow = time.Millisecond

// refreshQueue gathers refreshes for one launch.
type refreshQueue struct {
	mu      sync.Mutex
	pending []*start
	armed   bool
}

func (q *refreshQueue) add(c *Composer, s *start) {
	q.mu.Lock()
	q.pending = append(q.pending, s)
	arm := !q.armed
	q.armed = true
	q.mu.Unlock()
	if !arm {
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		t := time.NewTimer(refreshWindow)
		select {
		case <-t.C:
		case <-c.closed:
			t.Stop()
		}
		q.mu.Lock()
		batch := q.pending
		q.pending, q.armed = nil, false
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), remoteLook)
		defer cancel()
		c.launch(ctx, batch)
	}()
}
