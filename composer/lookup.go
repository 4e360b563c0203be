package composer

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

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
		now := time.Now()
		misses := r.lookupL1(levels, now, &next)
		if len(misses) > 0 && r.c.store != nil {
			misses = r.lookupStore(misses, now, &next)
		}
		if len(misses) > 0 {
			r.fanOut(misses)
		}
		if span != nil {
			span.End()
		}
		levels = next
	}
}

// lookupL1 settles the levels' pending nodes that need no call (timed
// out, disabled, or fresh or stale in L1) and returns the others; the
// children of nodes served are added to next.
func (r *request) lookupL1(levels [][]node, now time.Time, next *[][]node) (misses []*node) {
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
				if e, ok := r.c.inL1(n.ref.key, r.c.version(n.frag)); ok {
					// A stitched subtree is fresh only while e is, so it
					// is served as e is: a hit.
					n.stitch = r.stitchedFor(n, e, now)
					if r.serveCached(n, e, now, TierL1) {
						if n.children != nil {
							*next = append(*next, n.children)
						}
						continue
					}
					n.stitch = nil
				}
			}
			misses = append(misses, n)
		}
	}
	return misses
}

// stitchedFor returns the stitched subtree of e, the entry found in L1 for
// n, when this request may serve it (see stitch.go); it counts its
// includes then. A subtree found out of date is dropped, so that the
// writer builds a new one.
func (r *request) stitchedFor(n *node, e *Entry, now time.Time) *subtree {
	if r.debug {
		return nil
	}
	st := r.c.l1.Stitched(&e.mark, r.site, now)
	if st == nil || int(n.depth+st.Height) > r.site.Limits.MaxDepth {
		return nil
	}
	for {
		k := r.count.Load()
		if k+st.Includes > int64(r.site.Limits.MaxIncludes) {
			// The rest of this page leaves too little room: its
			// includes go the normal way, where the limit settles
			// those past it.
			return nil
		}
		if r.count.CompareAndSwap(k, k+st.Includes) {
			break
		}
	}
	r.c.stats.Stitched.Add(st.Includes)
	return st
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
			r.c.l1.Set(e)
		}
		r.serveCached(n, e, now, TierStore)
		if n.children != nil {
			*next = append(*next, n.children)
		}
	}
	return rest
}

// lookups coalesces concurrent look-ups of the same keys in the Store, as
// flights coalesce calls. When a thousand requests for a cold page arrive
// together, each would otherwise send its own MGET for the same keys, all
// misses, before the first of them has even started the calls: on two
// cores that herd of round trips alone outlasts the includes' timeouts.
// With lookups, the first request looks a key up and the others arriving
// while it does wait for its answer (BenchmarkLookupHerd measures it: a
// herd of 64 sends 2–3 MGETs instead of 64).
type lookups struct {
	mu sync.Mutex
	m  map[string]lookupSlot
	// active counts look-ups in progress. One that starts alone does not
	// publish its keys (a map insert and delete per key, some 0.2 µs: half
	// a millisecond on a 2,000-include page); the next one to start while
	// it runs does, and the rest of a herd shares that one.
	active int
}

type lookupSlot struct {
	b *lookupBatch
	i int
}

// lookupBatch is one GetMulti, shared by the requests that joined it.
type lookupBatch struct {
	done    chan struct{}
	entries []*Entry
	err     error
}

// getMulti is the Store's GetMulti, coalesced with the look-ups of the same
// keys already in progress. A failure of this request's own look-up is an
// error for the whole batch (a miss, like GetMulti's); a failure of a
// look-up it joined is a miss for the keys it waited for. Entries another
// request looked up are copies: callers may set their unexported fields.
//
// It is long because its fast path (no look-up in progress: no map
// traffic at all) and the shared path are kept in one place, where the
// active count that chooses between them is.
func (c *Composer) getMulti(ctx context.Context, keys []string) ([]*Entry, error) {
	lk := &c.lookups
	lk.mu.Lock()
	lk.active++
	if lk.active == 1 && len(lk.m) == 0 {
		lk.mu.Unlock()
		entries, err := c.getStore(ctx, keys)
		lk.mu.Lock()
		lk.active--
		lk.mu.Unlock()
		return entries, err
	}
	defer func() {
		lk.mu.Lock()
		lk.active--
		lk.mu.Unlock()
	}()
	own := &lookupBatch{done: make(chan struct{})}
	var ownKeys []string
	var ownAt, joinedAt []int
	var joined []lookupSlot
	if lk.m == nil {
		lk.m = make(map[string]lookupSlot)
	}
	for i, k := range keys {
		if sl, ok := lk.m[k]; ok {
			joinedAt = append(joinedAt, i)
			joined = append(joined, sl)
			continue
		}
		lk.m[k] = lookupSlot{own, len(ownKeys)}
		ownKeys = append(ownKeys, k)
		ownAt = append(ownAt, i)
	}
	lk.mu.Unlock()
	if len(joined) == 0 {
		// Nothing to share with: the plain look-up (ownKeys == keys).
		entries, err := c.getStore(ctx, keys)
		lk.finish(own, ownKeys, entries, err)
		return entries, err
	}
	out := make([]*Entry, len(keys))
	if len(ownKeys) > 0 {
		entries, err := c.getStore(ctx, ownKeys)
		lk.finish(own, ownKeys, entries, err)
		if err != nil {
			return nil, err
		}
		if len(entries) != len(ownKeys) {
			return nil, errors.New("composer: store returned the wrong number of entries")
		}
		for j, i := range ownAt {
			out[i] = entries[j]
		}
	}
	for j, sl := range joined {
		select {
		case <-sl.b.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if sl.b.err == nil && sl.i < len(sl.b.entries) {
			if e := sl.b.entries[sl.i]; e != nil {
				out[joinedAt[j]] = storeCopy(e)
			}
		}
	}
	return out, nil
}

// finish publishes b's result to the requests that joined it.
func (lk *lookups) finish(b *lookupBatch, keys []string, entries []*Entry, err error) {
	b.entries, b.err = entries, err
	if err == nil && len(entries) != len(keys) {
		b.err = errors.New("composer: store returned the wrong number of entries")
	}
	lk.mu.Lock()
	for _, k := range keys {
		if lk.m[k].b == b {
			delete(lk.m, k)
		}
	}
	lk.mu.Unlock()
	close(b.done)
}

// getStore looks keys up in the Store and normalizes the HTML of every
// entry found (see normalize.go) before anything else sees it: a value
// from another process is trusted no more than a fresh render.
func (c *Composer) getStore(ctx context.Context, keys []string) ([]*Entry, error) {
	entries, err := c.store.GetMulti(ctx, keys)
	for _, e := range entries {
		if e != nil {
			c.normalizeStored(e)
		}
	}
	return entries, err
}

// storeCopy copies an entry read from the Store (its exported fields, which
// nobody writes), for a request that shared another's look-up.
func storeCopy(e *Entry) *Entry {
	return &Entry{Key: e.Key, Version: e.Version, HTML: e.HTML, Assets: e.Assets,
		Created: e.Created, FreshUntil: e.FreshUntil, StaleUntil: e.StaleUntil, Leaf: e.Leaf}
}

// parsedEntry is an entry's parse, valid for the Site it was made with.
type parsedEntry struct {
	site *Site
	segs []segment
}

// storeSegments parses an entry read from the Store. With an in-process
// tier the entry (and its parse) is kept there; without one, a page's
// parents (a scoreboard with 2,000 includes) would be parsed again on every
// request, so their parses — not their content — are kept in a small cache
// keyed by what makes an entry unique: its version, key and creation time.
func (c *Composer) storeSegments(site *Site, parent *Spec, e *Entry) []segment {
	if e.Leaf || !MayInclude(e.HTML) {
		// A leaf, the common case: known from the Store's record, or
		// scanned once here and not again by parseSegments.
		return nil
	}
	if c.l1 != nil {
		return parseSegments(site, parent, e.HTML)
	}
	k := e.Version + "\x00" + e.Key + "\x00" + strconv.FormatInt(e.Created.UnixNano(), 10)
	if p, ok := c.parsed.GetIfPresent(k); ok && p.site == site {
		return p.segs
	}
	segs := parseSegments(site, parent, e.HTML)
	c.parsed.Set(k, parsedEntry{site: site, segs: segs})
	return segs
}
