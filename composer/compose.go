package composer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Request is one page to compose.
type Request struct {
	Page *Page
	// Route holds the values of the page path's placeholders.
	Route map[string]string
	Query url.Values
	// Start is when the request arrived; the budget counts from it.
	Start time.Time
	// Debug wraps every include in an element naming its fragment,
	// outcome and time, and adds the debug overlay. The caller decides
	// who may see it (site.yaml's debug, or the admin token).
	Debug bool
	// Nonce is the Content-Security-Policy nonce for inline scripts.
	Nonce string
	// Reader is the reader's verified identity ("" when anonymous). Only
	// fragments that declare NeedsReader receive it.
	Reader string
}

// node states.
const (
	pending uint32 = iota
	claimed        // a finisher is writing the result
	done
)

// node is one include of one request.
type node struct {
	ref     *includeRef
	frag    *Fragment
	depth   int32
	primary bool
	state   atomic.Uint32
	// started and deadline count from the request's arrival (r.at): plain
	// numbers, so that a page's thousands of nodes stay small and hold no
	// pointers for the collector to follow. deadline (a time.Duration) is
	// the page's budget until the include's call is joined, then the
	// include's own timeout from there (see callDeadline); the writer reads it
	// while a level's resolve may lower it, hence atomic.
	started  time.Duration
	deadline atomic.Int64

	// Written by the finisher before state becomes done; read after.
	entry    *Entry
	outcome  Outcome
	fallback bool // serve the fragment's fallback (when entry is nil)
	err      error
	tier     Tier
	dur      time.Duration
	children []node
	// stitch, when set, is served instead of children (see stitch.go).
	stitch *stitched
	// lvl collects the fresh result for the Store, when n was a miss. It
	// is set by resolve while the writer may already be settling n (at its
	// deadline), hence atomic; lvlDone makes sure n counts once.
	lvl     atomic.Pointer[level]
	lvlDone atomic.Bool
	// observed is set by whoever reports n to an IncludeBatcher: the
	// page's walk or, after it, n's late finisher.
	observed atomic.Bool
}

// request is the state of one Serve call.
type request struct {
	c        *Composer
	site     *Site
	ctx      context.Context
	start    time.Time
	deadline time.Time
	budget   time.Duration // deadline - start
	notify   chan struct{}
	count    atomic.Int64
	debug    bool
	reader   string
	party    *party // the flights this request waits for (see party)
	timer    *time.Timer
	// now is the writer's last reading of the clock (see await).
	now time.Time
	// layoutBuf holds the rendered layout (see layoutBufs).
	layoutBuf *bytes.Buffer
	// waiting is set while the writer is blocked waiting for a node.
	waiting atomic.Bool
	// preload are the Link headers writeHeader sent.
	preload []string
	mu      sync.Mutex
	levels  []*level
	tops    []node

	// Asset placement; anyAssets is set by finishers, the rest is the
	// writer's alone.
	anyAssets  atomic.Bool
	headDone   bool
	sentAssets map[string]struct{}
	pendingJS  []string

	// obsDone is set when the page's includes have been handed to the
	// IncludeBatcher (observeTree); includes settled later report
	// themselves.
	obsDone atomic.Bool

	// escaped is set once a node is handed to a fragment call (fetch):
	// then the page's nodes may be touched after Serve returns, and are
	// left to the collector instead of being recycled.
	escaped atomic.Bool
}

// Serve composes req.Page and streams it to w. It never returns an error:
// whatever the fragments do, the reader gets a complete page (or a readable
// 4xx/5xx page) within the budget plus a few milliseconds. When the client
// goes away (r's context ends) the request's waiting stops at once, and
// fragment calls that only it was waiting for are cancelled (see party);
// calls other requests still wait for, and background refreshes, run on.
func (c *Composer) Serve(w http.ResponseWriter, hr *http.Request, req Request) {
	site := c.site.Load()
	page := req.Page
	start := req.Start
	if start.IsZero() {
		start = time.Now()
	}
	budget := page.Budget
	if budget <= 0 {
		budget = site.Limits.Budget
	}
	// A page kept whole (see pagestitch.go) is one look-up and one write.
	var pageKey string
	if c.pages != nil && !req.Debug {
		pageKey = c.pages.key(page, &req)
		if c.servePage(w, site, &req, pageKey, start) {
			c.observePage(page.Name, http.StatusOK, time.Since(start))
			return
		}
	}
	// Anything else is composed: admitted by what it is expected to cost
	// (see admit.go).
	cost, reserved, ok := c.admission.admit(page.Name)
	if !ok {
		c.refuse(w)
		c.observePage(page.Name, http.StatusServiceUnavailable, time.Since(start))
		return
	}
	ctx, cancel := context.WithCancelCause(hr.Context())
	defer cancel(errServed) // not the client leaving: see party
	var r *request
	defer func() {
		// Levels the client left before they settled write what they have.
		r.mu.Lock()
		for _, l := range r.levels {
			l.flush()
		}
		r.mu.Unlock()
		c.admission.done(cost, reserved, r.count.Load())
		r.observeTree()
		if !r.escaped.Load() {
			freeNodes(r.tops)
		}
		if b := r.layoutBuf; b != nil && b.Cap() <= 256<<10 {
			b.Reset()
			layoutBufs.Put(b)
		}
	}()
	r = &request{
		c:        c,
		site:     site,
		ctx:      ctx,
		start:    start,
		deadline: start.Add(budget),
		budget:   budget,
		notify:   make(chan struct{}, 1),
		debug:    req.Debug,
		reader:   req.Reader,
		party:    newParty(ctx),
	}
	status := http.StatusOK
	defer func() { c.observePage(page.Name, status, time.Since(start)) }()

	// Plan: page includes to (fragment, params) pairs, then the layout.
	refs, st, msg := r.planPage(page, req)
	if st != 0 {
		status = st
		c.errorPage(w, st, msg)
		return
	}
	segs, tops, err := r.renderLayout(page, req, refs)
	r.tops = tops
	if err != nil {
		status = http.StatusInternalServerError
		c.log.ErrorContext(r.ctx, "composer: layout failed", "page", page.Name, "err", err)
		c.errorPage(w, status, "This page could not be laid out.")
		return
	}
	tPlan := time.Since(start)

	hasPrimary := false
	for i := range tops {
		hasPrimary = hasPrimary || tops[i].primary
	}
	bw := pageWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		pageWriters.Put(bw)
	}()
	if !hasPrimary {
		// Nothing can fail the page: the head is ready at once. It is
		// flushed now when a Store round trip comes before the writer
		// starts; else it goes out with the page's first bytes,
		// microseconds from now, or when the writer first has to wait.
		r.writeHeader(w, http.StatusOK, timing{plan: tPlan})
		if r.c.store != nil {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
	}
	r.resolve([][]node{tops})
	tLookup := time.Since(start) - tPlan

	var tPrim time.Duration
	if hasPrimary {
		for i := range tops {
			n := &tops[i]
			if !n.primary {
				continue
			}
			r.await(n, nil)
			if n.entry == nil {
				if errors.Is(n.err, ErrNotFound) {
					status = http.StatusNotFound
					c.errorPage(w, status, "There is nothing at this address.")
					return
				}
				status = http.StatusServiceUnavailable
				w.Header().Set("Retry-After", "5")
				c.errorPage(w, status, "Part of this page is unavailable right now. Please try again in a moment.")
				return
			}
		}
		tPrim = time.Since(start) - tPlan - tLookup
		r.writeHeader(w, http.StatusOK, timing{plan: tPlan, lookup: tLookup, primaries: tPrim})
	}

	var overlay func(*bufio.Writer)
	if r.debug {
		overlay = func(bw *bufio.Writer) {
			r.writeOverlay(bw, tops, timing{plan: tPlan, lookup: tLookup, primaries: tPrim, total: time.Since(start)}, req.Nonce)
		}
	}
	r.writePage(bw, w, segs, tops, overlay)
	if err := bw.Flush(); err != nil {
		return // client gone
	}
	if pageKey != "" {
		r.stitchPage(pageKey, segs, tops, req.Nonce, r.preload)
	}
	if time.Since(start) > budget+10*time.Millisecond {
		c.stats.Overruns.Add(1)
	}
}

type timing struct{ plan, lookup, primaries, total time.Duration }

func (r *request) writeHeader(w http.ResponseWriter, status int, t timing) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	st := make([]byte, 0, 96)
	st = appendTiming(st, "plan", t.plan)
	if t.lookup > 0 || t.primaries > 0 {
		st = append(st, ", "...)
		st = appendTiming(st, "lookup", t.lookup)
		st = append(st, ", "...)
		st = appendTiming(st, "primaries", t.primaries)
	}
	h.Set("Server-Timing", string(st))
	if r.anyAssets.Load() {
		// Assets known before the head goes out are preloaded.
		for _, a := range r.settledAssets() {
			as := "script"
			if isCSS(a) {
				as = "style"
			}
			l := "<" + a + ">; rel=preload; as=" + as
			h.Add("Link", l)
			r.preload = append(r.preload, l)
		}
	}
	// Not flushed here: the writer starts at once, and the head goes out
	// with the page's first bytes or as soon as the writer has to wait for
	// an include (it flushes then, see writePage). A flush of its own cost
	// a write system call per page: 10% of a warm page's CPU.
	w.WriteHeader(status)
}

func appendTiming(b []byte, name string, d time.Duration) []byte {
	b = append(b, name...)
	b = append(b, ";dur="...)
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
}

func (c *Composer) errorPage(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	title := http.StatusText(status)
	if c.opts.ErrorPage != nil {
		_ = c.opts.ErrorPage(status, title, msg).Render(context.Background(), w)
		return
	}
	_, _ = w.Write([]byte("<!doctype html><title>" + title + "</title><h1>" + title + "</h1><p>" + escapeText(msg) + "</p>"))
}

// planPage binds the page's includes to this request's route and query
// values. A route value that a fragment refuses means the address names
// nothing (404); a refused query value fails the page only on a primary
// include (400), elsewhere just that include.
func (r *request) planPage(page *Page, req Request) ([]includeRef, int, string) {
	refs := make([]includeRef, len(page.Includes))
	for i, pi := range page.Includes {
		ref := &refs[i]
		ref.pageIndex = i
		ref.fragment = pi.Fragment
		f := r.site.Fragments[pi.Fragment]
		if f == nil {
			ref.err = errUnknown
			continue
		}
		p, err := newParams(f.Spec, func(name string) (string, bool) {
			for _, b := range pi.Params {
				if b.Name != name {
					continue
				}
				switch b.From {
				case "route":
					v, ok := req.Route[b.Value]
					return v, ok
				case "query":
					vs, ok := req.Query[b.Value]
					if !ok || len(vs) == 0 {
						return "", false
					}
					return vs[0], true
				default:
					return b.Value, true
				}
			}
			return "", false
		})
		if err != nil {
			var pe *ParamError
			if errors.As(err, &pe) {
				switch from := bindingSource(pi, pe.Param); {
				case from == "route":
					return nil, http.StatusNotFound, "There is nothing at this address."
				case from == "query" && (pi.Primary || f.Settings.Primary):
					return nil, http.StatusBadRequest, "The value of “" + pe.Param + "” in this address is not valid."
				}
			}
			ref.err = err
			continue
		}
		ref.params = p
		ref.key = Key(pi.Fragment, p)
	}
	return refs, 0, ""
}

// bindingSource returns where the page include binds param from ("route",
// "query", or "" for a literal or no binding). It is asked only when a
// value was refused: a map of the sources, made on every request, was 8%
// of the bytes a warm page allocated.
func bindingSource(pi *PageInclude, param string) string {
	for _, b := range pi.Params {
		if b.Name == param {
			return b.From
		}
	}
	return ""
}

// layoutBufs hold a page's rendered layout until Serve returns: its
// segments' text points into it.
var layoutBufs = sync.Pool{New: func() any {
	b := new(bytes.Buffer)
	b.Grow(8 << 10)
	return b
}}

// pageWriters buffer a page on its way to the ResponseWriter. Every flush
// of a chunked response costs two write system calls (net/http writes the
// chunk header into its 4 KiB buffer, then the chunk past it), so the
// buffer is large: a warm 2,000-include page (470 KB) goes out in 8 chunks
// rather than 15. The writer flushes whenever it must wait for an include
// anyway, so a larger buffer delays nothing that is ready.
var pageWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// renderLayout renders the page's layout and makes one node per include it
// places, in document order.
func (r *request) renderLayout(page *Page, req Request, refs []includeRef) ([]segment, []node, error) {
	layout := r.c.opts.Layouts[page.Layout]
	if layout == nil {
		return nil, nil, errors.New("composer: unknown layout " + strconv.Quote(page.Layout))
	}
	v := &View{Page: page, Title: page.Title, params: req.Route, slots: r.c.slotsOf(page), Nonce: req.Nonce}
	buf := layoutBufs.Get().(*bytes.Buffer)
	r.layoutBuf = buf
	if err := layout(v).Render(r.ctx, buf); err != nil {
		return nil, nil, err
	}
	segs := parseSegments(r.site, nil, buf.Bytes())
	if segs == nil {
		segs = []segment{{text: buf.Bytes()}}
	}
	k := 0
	for _, s := range segs {
		if s.inc != nil {
			k++
		}
	}
	tops := newNodes(k)
	r.count.Add(int64(k))
	now := time.Now()
	j := 0
	for _, s := range segs {
		if s.inc == nil {
			continue
		}
		n := &tops[j]
		j++
		n.depth = 1
		ref := s.inc
		if ref.err == nil && ref.pageIndex >= 0 {
			if ref.pageIndex >= len(refs) {
				ref.err = errMalformed
			} else {
				ref = &refs[ref.pageIndex]
				n.primary = page.Includes[ref.pageIndex].Primary
			}
		}
		r.bind(n, ref, now)
	}
	return segs, tops, nil
}

// slotsOf returns, per slot name, the indexes of the page's includes.
func (c *Composer) slotsOf(p *Page) map[string][]int {
	m := make(map[string][]int)
	for i, pi := range p.Includes {
		m[pi.Slot] = append(m[pi.Slot], i)
	}
	return m
}

// bind attaches ref to n, starts its clock and settles at once the
// includes that cannot run. It runs before n is visible to any other
// goroutine.
func (r *request) bind(n *node, ref *includeRef, now time.Time) {
	n.ref = ref
	n.started = r.at(now)
	if ref.err != nil {
		r.settle(n, OutcomePlaceholder, ref.err)
		return
	}
	if ref.site == r.site {
		n.frag = ref.frag // resolved when the HTML was parsed
	} else {
		n.frag = r.site.Fragments[ref.fragment]
	}
	if n.frag == nil {
		r.settle(n, OutcomePlaceholder, errUnknown)
		return
	}
	n.primary = n.primary || n.frag.Settings.Primary
	// Looking the include up (L1, then the level's one Store round trip)
	// is bounded by the page's budget and the Store's own bound; the
	// fragment's timeout is for its call (see fetch).
	n.deadline.Store(int64(r.budget))
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

// settle finishes a node that never started (no notify needed: nobody can
// be waiting for it yet).
func (r *request) settle(n *node, o Outcome, err error) {
	n.outcome = o
	n.err = err
	n.fallback = o == OutcomeFallback
	n.state.Store(done)
	r.observeInclude(n)
}

// resolve looks up a batch of levels: first L1 for every node, then one
// Store round trip for all of the batch's L1 misses, then starts a fragment
// call for each remaining miss. Nodes served from a cache tier may carry
// includes of their own; those form the next level and are resolved the
// same way, so that a warm page costs one Store round trip per level.
func (r *request) resolve(levels [][]node) {
	traced := r.traced()
	for len(levels) > 0 {
		var span trace.Span
		if traced {
			n := 0
			for _, l := range levels {
				n += len(l)
			}
			span = r.levelSpan(n)
		}
		var next [][]node
		var misses []*node
		now := time.Now()
		for _, nodes := range levels {
			for i := range nodes {
				n := &nodes[i]
				if n.state.Load() != pending {
					continue
				}
				if r.at(now) >= n.deadlineOf() {
					r.fail(n, OutcomeTimeout, errTimeout, now)
					continue
				}
				if n.frag.Settings.Disabled {
					r.fail(n, OutcomeFallback, nil, now)
					continue
				}
				if r.c.l1 != nil {
					if e := r.c.l1.get(n.ref.key, r.c.version(n.frag)); e != nil {
						// A stitched subtree is fresh only while e is,
						// so it is served as e is: a hit.
						n.stitch = r.stitchedFor(n, e, now)
						if r.serveCached(n, e, now, TierL1) {
							if n.children != nil {
								next = append(next, n.children)
							}
							continue
						}
						n.stitch = nil
					}
				}
				misses = append(misses, n)
			}
		}
		if len(misses) > 0 && r.c.store != nil {
			misses = r.lookupStore(misses, now, &next)
		}
		if len(misses) > 0 {
			var starts []*start
			joined := make([]*flight, 0, len(misses))
			for _, n := range misses {
				r.fetch(n, &starts, &joined)
			}
			r.party.addAll(joined)
			local, remote := r.c.split(r.ctx, starts)
			if lvl := r.newLevel(len(local)); lvl != nil {
				for _, s := range local {
					s.node.lvl.Store(lvl)
					if s.node.state.Load() != pending {
						// Settled meanwhile (timed out): its finisher
						// may not have seen the level.
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
		if span != nil {
			span.End()
		}
		levels = next
	}
}

// serveCached finishes n from a cached entry if it is still servable.
func (r *request) serveCached(n *node, e *Entry, now time.Time, tier Tier) bool {
	switch {
	case now.Before(e.FreshUntil):
		r.finish(n, e, OutcomeHit, tier, now)
	case now.Before(e.StaleUntil):
		r.finish(n, e, OutcomeStale, tier, now)
		r.c.refresh(r.site, n.frag, n.ref.params, e)
	default:
		return false
	}
	return true
}

// lookupStore looks the misses up in the shared tier in one round trip and
// returns those still missing.
func (r *request) lookupStore(misses []*node, now time.Time, next *[][]node) []*node {
	keys := make([]string, 0, len(misses))
	versions := make([]string, 0, len(misses))
	shared := misses[:0:0]
	var rest []*node
	for _, n := range misses {
		if n.frag.Spec.perUser() {
			rest = append(rest, n)
			continue
		}
		shared = append(shared, n)
		v := r.c.version(n.frag)
		versions = append(versions, v)
		keys = append(keys, n.ref.storeKeyFor(v))
	}
	if len(keys) == 0 {
		return misses
	}
	ctx, cancel := context.WithDeadline(r.ctx, r.deadline) // never past the page's budget
	entries, err := r.c.getMulti(ctx, keys)
	cancel()
	if err != nil || len(entries) != len(keys) {
		r.c.stats.StoreErrs.Add(1)
		return misses
	}
	for i, n := range shared {
		e := entries[i]
		if !r.c.admitStored(r.site, n.frag, n.ref.key, versions[i], e, now) {
			r.c.stats.StoreMiss.Add(1)
			rest = append(rest, n)
			continue
		}
		r.c.stats.StoreHits.Add(1)
		e.segs = r.c.storeSegments(r.site, n.frag.Spec, e)
		e.written.Store(true) // it came from the Store
		if r.c.l1 != nil {
			r.c.l1.set(e)
		}
		r.serveCached(n, e, now, TierStore)
		if n.children != nil {
			*next = append(*next, n.children)
		}
	}
	return rest
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
			if e := r.c.l1.get(key, version); e != nil && time.Now().Before(e.FreshUntil) {
				return e
			}
			return nil
		}
	}
	created := false
	fl := r.c.flights.join(r.party, key, r.start.Add(n.deadlineOf()), n.primary, time.Time{}, waiter{r: r, n: n}, func(fl *flight) {
		created = true
		*starts = append(*starts, &start{fl: fl, site: r.site, f: f,
			p: n.ref.params, key: key, version: r.c.version(f), node: n, primary: n.primary})
	}, recheck)
	if fl != nil {
		*joined = append(*joined, fl)
		if !created && fl.wasExpired() {
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
	r.party.addAll(joined)
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

// children makes the nodes of the includes in a parent's segments,
// settling at once those over the depth or count limits.
func (r *request) children(parent *node, segs []segment) []node {
	k := 0
	for _, s := range segs {
		if s.inc != nil {
			k++
		}
	}
	nodes := newNodes(k)
	now := time.Now()
	total := r.count.Add(int64(k))
	over := total - int64(r.site.Limits.MaxIncludes) // how many of these are past the cap
	j := 0
	for _, s := range segs {
		if s.inc == nil {
			continue
		}
		n := &nodes[j]
		n.depth = parent.depth + 1
		switch {
		case int(n.depth) > r.site.Limits.MaxDepth:
			n.ref = s.inc
			r.settle(n, OutcomePlaceholder, errTooDeep)
		case over > 0 && int64(j) >= int64(k)-over:
			n.ref = s.inc
			r.settle(n, OutcomePlaceholder, errTooMany)
		default:
			r.bind(n, s.inc, now)
		}
		j++
	}
	return nodes
}

var (
	errTooDeep = errors.New("composer: include nested too deep")
	errTooMany = errors.New("composer: too many includes on the page")
)

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

// observeBatch is the most includes handed to an IncludeBatcher at once.
const observeBatch = 512

var observePool = sync.Pool{New: func() any {
	b := make([]IncludeEvent, 0, observeBatch)
	return &b
}}

func eventOf(n *node) IncludeEvent {
	return IncludeEvent{Fragment: n.ref.fragment, Outcome: n.outcome, Tier: n.tier, Duration: n.dur, Err: n.err}
}

// observeInclude reports a settled include to the Observer. With an
// IncludeBatcher, includes settled while the page is being served are
// left to observeTree, which reports them together when the page ends.
func (r *request) observeInclude(n *node) {
	c := r.c
	if c.opts.Observer == nil || n.ref == nil {
		return
	}
	if c.batcher != nil {
		// The walk stores obsDone before it looks at the nodes' states,
		// and n was stored done before this load: if obsDone is unset
		// here, the walk will see n done and report it.
		if !r.obsDone.Load() || !n.observed.CompareAndSwap(false, true) {
			return
		}
	}
	c.opts.Observer.Include(eventOf(n))
	if n.stitch != nil {
		for _, fc := range n.stitch.counts {
			c.opts.Observer.Include(stitchedEvent(n, fc))
		}
	}
}

// stitchedEvent stands for the includes of one fragment in n's stitched
// subtree: served with n, as n was.
func stitchedEvent(n *node, fc fragmentCount) IncludeEvent {
	return IncludeEvent{Fragment: fc.name, Outcome: n.outcome, Tier: n.tier, Duration: n.dur, Count: fc.n}
}

// observeTree hands every include of the page settled by now to the
// IncludeBatcher, in batches, once the page has ended. When no node was
// ever handed to a fragment call nothing can settle concurrently, and no
// node needs marking.
func (r *request) observeTree() {
	b := r.c.batcher
	if b == nil {
		return
	}
	r.obsDone.Store(true)
	shared := r.escaped.Load()
	p := observePool.Get().(*[]IncludeEvent)
	evs := (*p)[:0]
	add := func(ev IncludeEvent) {
		evs = append(evs, ev)
		if len(evs) == observeBatch {
			b.Includes(evs)
			evs = evs[:0]
		}
	}
	eachSettled(r.tops, func(n *node) {
		if n.ref == nil || (shared && !n.observed.CompareAndSwap(false, true)) {
			return
		}
		add(eventOf(n))
		if n.stitch != nil {
			for _, fc := range n.stitch.counts {
				add(stitchedEvent(n, fc))
			}
		}
	})
	if len(evs) > 0 {
		b.Includes(evs)
	}
	clear(evs[:cap(evs)]) // drop the errors' references
	*p = evs[:0]
	observePool.Put(p)
}

// eachSettled calls f for every settled node of the tree under nodes, in
// document order. A node's children are set before it settles, so they are
// visited only once it has.
func eachSettled(nodes []node, f func(n *node)) {
	for i := range nodes {
		n := &nodes[i]
		if n.state.Load() != done {
			continue
		}
		f(n)
		if n.children != nil {
			eachSettled(n.children, f)
		}
	}
}

func (c *Composer) observePage(page string, status int, d time.Duration) {
	if c.opts.Observer != nil {
		c.opts.Observer.Page(page, status, d)
	}
}
