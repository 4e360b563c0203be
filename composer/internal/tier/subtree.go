package tier

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/broadsheet/broadsheet/composer/compress"
)

// Mark is what the tier keeps on each entry (see Options.Mark): whether L1
// let it go, the subtree kept on it, and whether one is being built. Its
// zero value is an entry L1 holds, or has not been given yet. It is 16
// bytes, the pointer first: every entry carries one.
type Mark[E comparable] struct {
	// kept is the subtree kept on the entry while none of its parts
	// changed; building is set while one is built (see Claim).
	kept atomic.Pointer[Subtree[E]]
	// gone is set when L1 stops holding the entry (replaced, purged,
	// evicted or expired) or refuses it, before any look-up can see what
	// replaced it.
	gone     atomic.Bool
	building atomic.Bool
}

// Gone reports whether L1 no longer holds (or never held) the entry.
func (m *Mark[E]) Gone() bool { return m.gone.Load() }

// Kept returns the subtree kept on the entry, if any, servable or not.
func (m *Mark[E]) Kept() *Subtree[E] { return m.kept.Load() }

// Claim reports whether the caller may build a subtree for the entry: it
// is not gone, keeps none, and nobody else is building one. A caller
// given true calls Release once it kept its subtree or gave up.
func (m *Mark[E]) Claim() bool {
	return !m.gone.Load() && m.kept.Load() == nil && m.building.CompareAndSwap(false, true)
}

// Release ends the claim Claim gave.
func (m *Mark[E]) Release() { m.building.Store(false) }

// Subtree is a parent's subtree written out whole, with what serving it
// needs. The composer builds it (NewSubtree, Add, Nest, and its own writes
// of HTML) and hands it to L1.Keep or Pages.Keep; from then on it is only
// read.
type Subtree[E comparable] struct {
	// Scope is what it was built under (the composer's Site, compared as
	// an opaque value): it is served under that scope only.
	Scope any
	// HTML is the subtree's body; Piece is HTML with its compressed
	// forms, made once each, counted in the stitched bytes as they are
	// made (see L1.Reserve). Both are set by Keep.
	HTML  []byte
	Piece *compress.Piece
	// Assets are the parent's and every part's, in document order, once.
	Assets []string
	// Parts are the entries of every include under the parent (the
	// composer's caching headers read them); marks are their marks, made
	// by Keep, read by Servable without a call per part: through
	// Options.Mark, the check of 2,000 parts takes 2.6 times as long
	// (BenchmarkServable).
	Parts []E
	marks []*Mark[E]
	// Fresh is the earliest freshness of the parent's entry and the parts'.
	Fresh time.Time
	// Includes counts the parts (the page's MaxIncludes applies to them);
	// Height is how many levels they span below the parent (MaxDepth).
	Includes int64
	Height   int32
	// Counts are the parts per fragment, in order of first appearance,
	// for the Observer.
	Counts []Count
	// Size is what the subtree holds beyond its entries: its bytes, its
	// lists of parts, assets and counts; set by Keep.
	Size int64
	// checked is L1's count of deletions when every part was last found
	// still there: while the count has not moved, none can have gone.
	checked atomic.Uint64
}

// Count is the parts of one fragment in a subtree.
type Count struct {
	Fragment string
	N        int
}

// NewSubtree returns an empty subtree built under scope, fresh until fresh
// (the parent's freshness) unless a part is fresh for less.
func NewSubtree[E comparable](scope any, fresh time.Time) *Subtree[E] {
	return &Subtree[E]{Scope: scope, Fresh: fresh}
}

// Add counts part, an entry of fragment fresh until fresh and needing
// assets, in st. It does not write its HTML.
func (st *Subtree[E]) Add(part E, fragment string, fresh time.Time, assets []string) {
	st.Parts = append(st.Parts, part)
	st.Includes++
	st.count(fragment, 1)
	if fresh.Before(st.Fresh) {
		st.Fresh = fresh
	}
	st.AddAssets(assets)
}

// Nest counts in st the parts of cs, a subtree served at height h below
// st's parent. It does not write its HTML.
func (st *Subtree[E]) Nest(cs *Subtree[E], h int32) {
	st.Parts = append(st.Parts, cs.Parts...)
	st.Includes += cs.Includes
	st.Height = max(st.Height, h+cs.Height)
	for _, c := range cs.Counts {
		st.count(c.Fragment, c.N)
	}
	if cs.Fresh.Before(st.Fresh) {
		st.Fresh = cs.Fresh
	}
	st.AddAssets(cs.Assets)
}

// AddAssets adds those of as that st does not list yet.
func (st *Subtree[E]) AddAssets(as []string) {
	for _, a := range as {
		if !slices.Contains(st.Assets, a) {
			st.Assets = append(st.Assets, a)
		}
	}
}

func (st *Subtree[E]) count(fragment string, n int) {
	cs := st.Counts
	if k := len(cs) - 1; k >= 0 && cs[k].Fragment == fragment { // runs are the rule
		cs[k].N += n
		return
	}
	for i := range cs {
		if cs[i].Fragment == fragment {
			cs[i].N += n
			return
		}
	}
	st.Counts = append(cs, Count{fragment, n})
}

// Servable reports whether st may be served now under scope: it was built
// under scope, none of its parts has turned stale, and l still holds every
// one of them.
func (st *Subtree[E]) Servable(l *L1[E], scope any, now time.Time) bool {
	if st.Scope != scope || !now.Before(st.Fresh) {
		return false
	}
	if d := l.deletions.Load(); st.checked.Load() != d {
		for _, m := range st.marks {
			if m.gone.Load() {
				return false
			}
		}
		st.checked.Store(d)
	}
	return true
}

// seal sets st's body and readies it to be kept: its parts' marks listed
// (made here rather than by Add: most subtrees built for a page are never
// kept), and its first use checking every part. extra is what its holder
// spends on it besides.
func (l *L1[E]) seal(st *Subtree[E], html []byte, extra int) {
	st.marks = make([]*Mark[E], len(st.Parts))
	for i, p := range st.Parts {
		st.marks[i] = l.o.Mark(p)
	}
	st.HTML = html
	st.Piece = compress.NewPiece(html, l)
	st.checked.Store(math.MaxUint64)
	st.Size = int64(st.bytes() + extra)
}

// bytes is the memory st holds beyond its entries, as Options.Size counts.
func (st *Subtree[E]) bytes() int {
	var part E
	return AllocSize(int(unsafe.Sizeof(*st))) + AllocSize(cap(st.HTML)) +
		AllocSize(int(unsafe.Sizeof(part))*cap(st.Parts)) + AllocSize(8*cap(st.marks)) +
		AllocSize(16*cap(st.Assets)) + AllocSize(int(unsafe.Sizeof(Count{}))*cap(st.Counts))
}

// Keep sets html as st's body and keeps st on the entry of mark m, within
// the stitched bytes (it keeps nothing past them). It races with the entry
// leaving L1 (see New): whichever of the two comes second takes st off
// again, so that a subtree is never kept on a gone entry.
func (l *L1[E]) Keep(m *Mark[E], st *Subtree[E], html []byte) {
	l.seal(st, html, 0)
	if !l.Reserve(st.Size) {
		return
	}
	if old := m.kept.Swap(st); old != nil {
		l.unkeep(old)
	}
	if m.gone.Load() {
		l.drop(m, st)
	}
}

// Stitched returns the subtree kept on the entry of mark m if it may be
// served now under scope (see Subtree.Servable). One found out of date is
// dropped, so that a new one is built.
func (l *L1[E]) Stitched(m *Mark[E], scope any, now time.Time) *Subtree[E] {
	st := m.kept.Load()
	if st == nil {
		return nil
	}
	if !st.Servable(l, scope, now) {
		l.drop(m, st)
		return nil
	}
	return st
}

// drop takes st off the entry of mark m, if it is still there.
func (l *L1[E]) drop(m *Mark[E], st *Subtree[E]) {
	if m.kept.CompareAndSwap(st, nil) {
		l.unkeep(st)
	}
}

// unkeep counts out st, no longer kept: its bytes and its compressed
// forms'.
func (l *L1[E]) unkeep(st *Subtree[E]) {
	l.stitchBytes.Add(-st.Size - st.Piece.Release())
}

// Reserve counts n bytes in the stitched bytes, if they leave room for
// them: a subtree's or page's own, or its compressed form's
// (compress.Budget).
func (l *L1[E]) Reserve(n int64) bool {
	if l.stitchBytes.Add(n) > l.stitchMax {
		l.stitchBytes.Add(-n)
		return false
	}
	return true
}
