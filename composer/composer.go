package composer

import (
	"crypto/rand"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"
	"github.com/maypok86/otter/v2"

	"golang.org/x/sync/semaphore"

	"github.com/broadsheet/broadsheet/composer/internal/coord"
	"github.com/broadsheet/broadsheet/composer/internal/launch"
	"github.com/broadsheet/broadsheet/composer/internal/tier"
)

// Options configure a Composer. The zero value is usable.
type Options struct {
	// L1Bytes bounds the in-process tier; 0 means 64 MiB. Negative turns the
	// in-process tier off (every lookup goes to the Store).
	L1Bytes int64
	// StitchBytes bounds the memory of stitched subtrees and pages kept
	// whole, beside the in-process tier (see stitch.go); 0 means a quarter
	// of L1Bytes, negative keeps none (every include is looked up on every
	// request).
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
	// include waiting for them has given up. The same readings give a
	// call grace at its deadline while goroutines run late (see
	// launch.Context.Begin). 0 means 40 ms; negative turns the adaptive
	// limit and the grace off (MaxInFlight alone bounds calls, and a
	// call's timeout alone ends it).
	SchedTarget time.Duration
	// Layouts by name.
	Layouts map[string]Layout
	// ErrorPage renders the readable page of a 4xx or 5xx answer.
	ErrorPage func(status int, title, message string) templ.Component
	// Overlay renders the debug overlay of a page composed with
	// Request.Debug (nil: the page has its include markers and no
	// overlay).
	Overlay func(Overlay) templ.Component
	// Observer receives per-include and per-page figures; nil ignores them.
	Observer Observer
	Logger   *slog.Logger
	// SurrogateKeys is the most include keys a page's Surrogate-Key
	// lists beside its fragments' names (see httpcache.Keys); 0 means
	// httpcache.DefaultKeyCap, negative none.
	SurrogateKeys int
	// Purger, when set, is told the surrogate keys of what changed: an
	// include an event refreshed or dropped (DropKey), a fragment purged
	// (ApplyGeneration).
	Purger Purger
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
	launcher  *launch.Launcher[*start]
	late      func() time.Duration // a call's grace at its deadline (see launch.Context.Begin); nil: none
	remote    coord.Poller[*start] // starts waiting for another instance's call (see remote.go)
	lookups   lookups              // Store look-ups in progress, shared
	refreshes refreshQueue         // refreshes about to be launched
	holder    string               // names this instance to the Store's locks
	gens      coord.Generations    // the fragments' purge generations
	siteAt    atomic.Int64         // when SetSite last ran (Unix ns), 0 never
	runs      *semaphore.Weighted  // one unit per fragment call in flight
	composing byteBudget           // bytes of results being made (ComposeBytes)
	admission *admission           // includes of the pages in flight (MaxIncludesInFlight)
	perFrag   sync.Map             // fragment name → *semaphore.Weighted (MaxConcurrent)
	groups    sync.Map             // Spec.Group → *semaphore.Weighted (GroupLimit)
	log       *slog.Logger
	stats     Stats
	batcher   IncludeBatcher // opts.Observer, when it takes batches
	pages     *pageStore     // pages kept whole (nil: none kept)
	keyer     pageKeyer      // pages' keys, for pages kept whole and admission
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
	// Compressed counts the bytes compressed per request (see encode.go):
	// a page's parts that are not kept precompressed.
	Compressed atomic.Int64
	// CallLimit is the launcher's limit of calls in flight now, adapted to
	// the scheduling latency (Options.SchedTarget; see launch.Limit).
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
	limit := opts.MaxIncludesInFlight
	if limit == 0 {
		limit = DefaultMaxIncludesInFlight
	}
	c.admission = newAdmission(limit)
	c.composing.limit = opts.ComposeBytes
	if opts.ComposeBytes == 0 {
		c.composing.limit = DefaultComposeBytes
	}
	c.launcher = c.newLauncher(opts)
	c.late = c.launcher.Lateness
	c.remote = coord.Poller[*start]{
		Look:     c.lookRemote,
		Closed:   func(s *start) { s.fl.Complete(nil, errTimeout) },
		Interval: remotePoll,
		Go:       c.bg.Go,
		Done:     c.closed,
	}
	c.stats.CallLimit.Store(int64(opts.MaxInFlight))
	c.batcher, _ = opts.Observer.(IncludeBatcher)
	if opts.L1Bytes >= 0 {
		c.l1 = newL1(opts.L1Bytes, opts.StitchBytes)
		c.l1w = tier.NewWriter(c.l1)
		c.pages = tier.NewPages(c.l1)
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
	c.flights.DropHolds()
}

// Stats returns the composer's counters.
func (c *Composer) Stats() *Stats { return &c.stats }

// StitchedBytes returns the memory held by stitched subtrees now (see
// Options.StitchBytes).
func (c *Composer) StitchedBytes() int64 {
	if c.l1 == nil {
		return 0
	}
	return c.l1.StitchedBytes()
}

// CacheBytes returns the memory the in-process tier counts now: its
// entries' (see Entry.Size) and the stitched subtrees'.
func (c *Composer) CacheBytes() int64 {
	if c.l1 == nil {
		return 0
	}
	return int64(c.l1.Cache().WeightedSize()) + c.l1.StitchedBytes()
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
	n := c.l1.Purge(fragment + "?")
	c.pages.Sweep()
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
		c.l1w.Close()
		c.l1.Close()
		c.pages.Close()
	}
}

// closeWait bounds how long Close waits for fragment calls to finish.
const closeWait = 5 * time.Second
