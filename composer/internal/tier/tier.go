// Package tier is the composer's in-process cache: the entries it holds by
// key, bounded by bytes, and, kept beside them, subtrees and whole pages
// written out from them (Russian-doll caching), served only while exact.
//
// L1 is otter's W-TinyLFU, bounded by the bytes its entries hold (see
// AllocSize), each dropped once past its StaleUntil: it keeps a hot set of
// entries resident under scans of cold ones (a 10,000-include page must not
// flush the front page's stories). Fresh results go in from one goroutine
// (Writer), not from the thousands of calls that finish at once.
//
// A warm page spends nearly all its time on includes that have not changed
// since the previous request: a scoreboard of 2,000 scores costs 2,000 L1
// look-ups, 2,000 nodes, 4,000 small writes and 2,000 include events, to
// produce the bytes it produced a moment ago. Once a parent has been written
// with every include under it (at every depth) served fresh from a cache
// tier, the composer keeps its subtree written out whole on the parent's
// entry (a Subtree, see L1.Keep); a page is the same idea one level up
// (Pages). A later request that finds the parent fresh in L1 serves the
// subtree instead: one look-up, one check per part that it is still the one
// L1 holds, and one write.
//
// The check is exact, not a time-to-live, and this is the comment that
// matters. L1 marks an entry gone (see Mark) the moment it stops holding
// it — a newer entry replaced it, a purge, eviction or expiry (otter's
// OnAtomicDeletion, under the key's bucket lock: see New), or L1 refused it
// (see L1.SetUnlessNewer) — before the replacement is visible to any
// look-up, and counts its deletions: while the count has not moved since a
// subtree's parts were last checked, they need no check. A subtree is
// therefore served only while every one of its parts would have been
// served, as it is, by a look-up of its own. It is also bound to the scope
// it was built under (the composer's Site: a reload or a live override of
// a setting starts afresh) and to the earliest freshness of its parts: a
// part turning stale must be refreshed, which the composer's normal path
// does. A subtree kept on an entry races with the entry leaving L1:
// whichever of the two comes second takes the subtree off again, so that
// none stays on a gone entry.
//
// Subtrees and pages share a byte budget of their own (Options.StitchBytes)
// that also counts their compressed forms (L1 is their compress.Budget);
// their bytes are given back as they are dropped.
//
// Which includes may be parts, which pages may be kept whole and what a
// request counts are the composer's: this package knows entries only
// through the functions of Options.
package tier

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Options configure an L1 of entries of type E (a pointer type) and tell
// it what it needs to know of them. They are functions rather than methods
// asked of E, as otter's Weigher is, so that the entry type carries no
// method for the tier's sake (the composer's Entry is public API). None is
// called on a look-up.
type Options[E comparable] struct {
	// MaxBytes bounds the entries' weight (0: 64 MiB). StitchBytes bounds
	// the subtrees and pages kept beside them (0: a quarter of MaxBytes;
	// negative: none).
	MaxBytes, StitchBytes int64
	// Key returns the key e is held under, Version the version it was made
	// with, Created when it was made.
	Key     func(e E) string
	Version func(e E) string
	Created func(e E) time.Time
	// StaleUntil returns when L1 drops e.
	StaleUntil func(e E) time.Time
	// Size returns e's weight: the bytes it holds, with Overhead.
	Size func(e E) int
	// Mark returns the mark e keeps for the tier.
	Mark func(e E) *Mark[E]
}

// L1 is the in-process cache tier: entries by key, bounded by bytes, each
// removed once past its StaleUntil, with the subtrees kept on them. It is
// safe for concurrent use.
//
// Entries go in through Set and SetUnlessNewer; look-ups read the otter
// cache itself (Cache). A look-up is on every include's path, and one
// through a method of L1 — generic, so called with a dictionary, and
// asking Options.Version — cost a tenth more (BenchmarkGet).
type L1[E comparable] struct {
	c     *otter.Cache[string, E]
	clock *otter.CoarseClock
	o     Options[E]
	// stitchMax bounds the bytes of the subtrees and pages kept beside
	// the entries, stitchBytes counts them; 0 keeps none.
	stitchMax   int64
	stitchBytes atomic.Int64
	// deletions counts the entries L1 stopped holding (see
	// Subtree.Servable).
	deletions atomic.Uint64
}

// New returns an L1 configured by o.
func New[E comparable](o Options[E]) *L1[E] {
	maxBytes, stitchBytes := o.MaxBytes, o.StitchBytes
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	if stitchBytes == 0 {
		stitchBytes = maxBytes / 4
	}
	l := &L1[E]{o: o, stitchMax: max(stitchBytes, 0)}
	// The cache reads its clock on every lookup, only to expire entries;
	// freshness is judged by the composer against the entry's own times.
	// A clock read once a millisecond makes a lookup a third cheaper.
	l.clock = otter.NewCoarseClock(time.Millisecond)
	l.c = otter.Must(&otter.Options[string, E]{
		Clock:         l.clock,
		MaximumWeight: uint64(maxBytes),
		Weigher: func(_ string, e E) uint32 {
			return uint32(min(o.Size(e), 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, E]) time.Duration {
			return max(time.Until(o.StaleUntil(e.Value)), time.Millisecond)
		}),
		// Under the key's bucket lock, before a replacement is visible:
		// a subtree holding e is never served once a look-up of e's key
		// could find something else.
		OnAtomicDeletion: func(ev otter.DeletionEvent[string, E]) { l.gone(ev.Value) },
	})
	return l
}

// Set puts e in L1, in place of any entry of its key.
func (l *L1[E]) Set(e E) { l.put(e, false) }

// SetUnlessNewer puts e in L1 unless L1 holds an entry of its key and
// version made after it; then e is marked gone at once, as if L1 had held
// it and let it go. The composer inserts results a moment after their
// calls end (see Writer): meanwhile an event's refresh may have put a
// newer entry there, which an older result must not replace.
func (l *L1[E]) SetUnlessNewer(e E) { l.put(e, true) }

func (l *L1[E]) put(e E, unlessNewer bool) {
	refused := false
	l.c.Compute(l.o.Key(e), func(old E, found bool) (E, otter.ComputeOp) {
		switch {
		case !found:
		case old == e: // already there: replacing it would mark it gone
			return old, otter.CancelOp
		case unlessNewer && l.o.Version(old) == l.o.Version(e) && l.o.Created(old).After(l.o.Created(e)):
			refused = true
			return old, otter.CancelOp
		}
		return e, otter.WriteOp
	})
	if refused {
		// L1 will never hold e, though a request may have served it
		// (taken from its call's flight): it must not stay in a subtree
		// as if L1 held it.
		l.gone(e)
	}
}

// gone marks e as no longer (or never) held by L1, and takes off the
// subtree kept on it.
func (l *L1[E]) gone(e E) {
	m := l.o.Mark(e)
	m.gone.Store(true)
	l.deletions.Add(1)
	if st := m.kept.Swap(nil); st != nil {
		l.unkeep(st)
	}
}

// Purge drops every entry whose key starts with prefix and returns how
// many it dropped.
func (l *L1[E]) Purge(prefix string) int {
	n := 0
	for k := range l.c.Keys() {
		if strings.HasPrefix(k, prefix) {
			l.c.Invalidate(k)
			n++
		}
	}
	return n
}

// Cache returns the otter cache underneath, for looking entries up,
// sizing and invalidating them: whatever leaves it is marked gone all the
// same (see New). Entries go in through Set and SetUnlessNewer only.
func (l *L1[E]) Cache() *otter.Cache[string, E] { return l.c }

// Stitches reports whether L1 keeps subtrees and pages at all.
func (l *L1[E]) Stitches() bool { return l.stitchMax > 0 }

// StitchedBytes returns the bytes the subtrees and pages kept hold now,
// their compressed forms included.
func (l *L1[E]) StitchedBytes() int64 { return l.stitchBytes.Load() }

// Close stops L1's background goroutines.
func (l *L1[E]) Close() {
	l.c.StopAllGoroutines()
	l.clock.Stop()
}
