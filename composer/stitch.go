package composer

import (
	"bytes"
	"math"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/broadsheet/broadsheet/composer/compress"
)

// Stitched subtrees (Russian-doll caching).
//
// A warm page spends nearly all its time on includes that have not changed
// since the previous request: a scoreboard of 2,000 scores costs 2,000 L1
// look-ups, 2,000 nodes, 4,000 small writes and 2,000 include events, to
// produce the bytes it produced a moment ago. Once the writer has written a
// parent whose every include (at every depth) was served fresh from a cache
// tier, it keeps the parent's subtree written out whole on the parent's L1
// entry. A later request that finds the parent fresh in L1 serves that
// instead: one look-up, one check per entry of the subtree that it is still
// the one L1 holds, and one write.
//
// The check is exact, not a time-to-live: L1 marks an entry gone the moment
// it stops holding it (a newer result replaced it, a purge — a new
// fragment generation is one, see ApplyGeneration —, eviction or expiry:
// see newL1's OnAtomicDeletion; or it refused the entry, see l1.put),
// before the replacement is visible to any look-up, and counts its
// deletions: while the count has not moved since a subtree's parts were
// last checked, they need no check. A stitched subtree is therefore served
// only while every one of its includes would have been served, as it is,
// by a look-up of its own. It is also bound to the Site it was built with
// (a reload or a live override of a setting starts afresh) and to the
// earliest freshness of its parts: a part turning stale must be refreshed,
// which the normal path does.
//
// Debug requests never use or build one (their markers are per include),
// nor do subtrees holding per-reader content. Include events are still
// reported, one per fragment with a Count (see IncludeEvent), and the
// page's include limits still apply.

// stitched is a parent's subtree, written out.
type stitched struct {
	site *Site
	html []byte
	// piece is html with its compressed forms, made once each, counted in
	// the stitched bytes as they are made (see l1.Reserve).
	piece *compress.Piece
	// assets are the parent's and every part's, in document order, once.
	assets []string
	// parts are the entries of every include under the parent.
	parts []*Entry
	// fresh is the earliest FreshUntil of the parent's entry and the parts'.
	fresh time.Time
	// includes counts the parts (the page's MaxIncludes applies to them);
	// height is how many levels they span below the parent (MaxDepth).
	includes int64
	height   int32
	// counts are the parts per fragment, in order of first appearance,
	// for the Observer.
	counts []fragmentCount
	// size is what the subtree holds beyond its entries: its bytes, its
	// lists of parts, assets and counts (see bytes, l1.keepStitched).
	size int64
	// checked is L1's count of deletions when every part was last found
	// still there: while the count has not moved, none can have gone.
	checked atomic.Uint64
}

type fragmentCount struct {
	name string
	n    int
}

// stitchedFor returns the stitched subtree of e, the entry found in L1 for
// n, when this request may serve it; it counts its includes then. A subtree
// found out of date is dropped, so that the writer builds a new one.
func (r *request) stitchedFor(n *node, e *Entry, now time.Time) *stitched {
	st := e.stitched.Load()
	if st == nil || r.debug {
		return nil
	}
	if !st.servable(r.c.l1, r.site, now) {
		r.c.l1.dropStitched(e, st)
		return nil
	}
	if int(n.depth+st.height) > r.site.Limits.MaxDepth {
		return nil
	}
	for {
		k := r.count.Load()
		if k+st.includes > int64(r.site.Limits.MaxIncludes) {
			// The rest of this page leaves too little room: its
			// includes go the normal way, where the limit settles
			// those past it.
			return nil
		}
		if r.count.CompareAndSwap(k, k+st.includes) {
			break
		}
	}
	r.c.stats.Stitched.Add(st.includes)
	return st
}

// servable reports whether st may be served now under site: it was built
// under site, none of its parts has turned stale, and L1 still holds every
// one of them.
func (st *stitched) servable(l *l1, site *Site, now time.Time) bool {
	if st.site != site || !now.Before(st.fresh) {
		return false
	}
	if d := l.deletions.Load(); st.checked.Load() != d {
		for _, p := range st.parts {
			if p.gone.Load() {
				return false
			}
		}
		st.checked.Store(d)
	}
	return true
}

// stitch keeps n's subtree, just written, on n's entry when every include
// under it was served fresh from a cache tier, and no subtree is kept there
// already. It runs on the page's writer, after n's subtree was written.
func (r *request) stitch(n *node) {
	l := r.c.l1
	e := n.entry
	if l == nil || l.stitchMax <= 0 || r.debug || n.outcome != OutcomeHit || e.gone.Load() ||
		e.stitched.Load() != nil || !e.stitching.CompareAndSwap(false, true) {
		return
	}
	defer e.stitching.Store(false)
	b := stitchBuilder{st: &stitched{site: r.site, fresh: e.FreshUntil}}
	b.addAssets(e.Assets)
	if !b.subtree(e.segs, n.children, 1) || !time.Now().Before(b.st.fresh) {
		return
	}
	st := b.st
	st.checked.Store(math.MaxUint64) // its first use checks every part
	st.html = b.buf.Bytes()
	st.piece = compress.NewPiece(st.html, l)
	st.size = int64(st.bytes())
	l.keepStitched(e, st)
}

// bytes is the memory st holds beyond its entries, as Entry.Size counts.
func (st *stitched) bytes() int {
	n := allocSize(int(unsafe.Sizeof(stitched{}))) + allocSize(cap(st.html)) + allocSize(8*cap(st.parts)) +
		allocSize(16*cap(st.assets)) + allocSize(int(unsafe.Sizeof(fragmentCount{}))*cap(st.counts))
	return n
}

type stitchBuilder struct {
	st  *stitched
	buf bytes.Buffer
}

// subtree writes the segments of a parent and its children (at height h
// below the stitched parent) into the builder. It reports false when any of
// them cannot be part of a stitched subtree.
func (b *stitchBuilder) subtree(segs []segment, children []node, h int32) bool {
	st := b.st
	st.height = max(st.height, h)
	j := 0
	for _, s := range segs {
		b.buf.Write(s.text)
		if s.inc == nil {
			continue
		}
		c := &children[j]
		j++
		e := c.entry
		if c.state.Load() != done || e == nil || c.outcome != OutcomeHit || (c.tier != TierL1 && c.tier != TierStore) ||
			c.frag == nil || c.frag.Spec.perUser() || e.gone.Load() {
			return false
		}
		st.parts = append(st.parts, e)
		st.includes++
		b.count(c.ref.fragment, 1)
		if e.FreshUntil.Before(st.fresh) {
			st.fresh = e.FreshUntil
		}
		b.addAssets(e.Assets)
		switch {
		case c.stitch != nil:
			// Served stitched itself: its parts are this one's too.
			cs := c.stitch
			b.buf.Write(cs.html)
			st.parts = append(st.parts, cs.parts...)
			st.includes += cs.includes
			st.height = max(st.height, h+cs.height)
			for _, fc := range cs.counts {
				b.count(fc.name, fc.n)
			}
			if cs.fresh.Before(st.fresh) {
				st.fresh = cs.fresh
			}
			b.addAssets(cs.assets)
		case c.children != nil:
			if !b.subtree(e.segs, c.children, h+1) {
				return false
			}
		default:
			b.buf.Write(e.HTML)
		}
	}
	return true
}

func (b *stitchBuilder) count(name string, n int) {
	cs := b.st.counts
	if k := len(cs) - 1; k >= 0 && cs[k].name == name { // runs are the rule
		cs[k].n += n
		return
	}
	for i := range cs {
		if cs[i].name == name {
			cs[i].n += n
			return
		}
	}
	b.st.counts = append(cs, fragmentCount{name, n})
}

func (b *stitchBuilder) addAssets(as []string) {
	for _, a := range as {
		if !slices.Contains(b.st.assets, a) {
			b.st.assets = append(b.st.assets, a)
		}
	}
}

// keepStitched puts st on e, within the bytes L1 allows stitched subtrees.
// It races with e leaving L1 (see newL1): whichever of the two comes second
// takes st off again, so that a subtree is never kept on a gone entry.
func (l *l1) keepStitched(e *Entry, st *stitched) {
	if l.stitchBytes.Add(st.size) > l.stitchMax {
		l.stitchBytes.Add(-st.size)
		return
	}
	if old := e.stitched.Swap(st); old != nil {
		l.unkeep(old)
	}
	if e.gone.Load() {
		l.dropStitched(e, st)
	}
}

// dropStitched takes st off e, if it is still there.
func (l *l1) dropStitched(e *Entry, st *stitched) {
	if e.stitched.CompareAndSwap(st, nil) {
		l.unkeep(st)
	}
}

// unkeep counts out st, no longer kept: its bytes and its compressed forms'.
func (l *l1) unkeep(st *stitched) {
	l.stitchBytes.Add(-st.size - st.piece.Release())
}

// Reserve counts n bytes of a stitched subtree's or page's compressed form
// in the stitched bytes, if they leave room for them (compress.Budget).
func (l *l1) Reserve(n int64) bool {
	if l.stitchBytes.Add(n) > l.stitchMax {
		l.stitchBytes.Add(-n)
		return false
	}
	return true
}
