package tier

import (
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// Page is a whole page's body written out: a subtree whose parts are every
// entry of the page, with what its head carried.
type Page[E comparable] struct {
	// Subtree's HTML is the whole body; its parts, freshness and counts
	// are the page's.
	Subtree *Subtree[E]
	// Preload lists the Link headers the head carried.
	Preload []string
	// Cache is what the page's caching headers are made of.
	Cache httpcache.Summary
}

// Pages keeps whole pages by key, within L1's stitched bytes. A page of
// 1,000 top-level includes has no parent to hang a subtree on, so, warm,
// it still cost 1,000 param bindings, a layout render, 1,000 nodes,
// look-ups and writes per request: a fifth of what the same bytes cost
// from memory. Kept whole, it is one look-up and one write, while L1
// holds its every part: exact as a subtree is (see the package comment).
// Pages are evicted by otter like L1's entries. Pages is safe for
// concurrent use; a nil *Pages keeps nothing.
type Pages[E comparable] struct {
	l1    *L1[E]
	c     *otter.Cache[string, *Page[E]]
	clock *otter.CoarseClock
	// building holds the keys of pages being built, so that concurrent
	// requests of a page build it once.
	building sync.Map
}

// NewPages returns a store of pages within l's stitched bytes, or nil when
// l keeps none.
func NewPages[E comparable](l *L1[E]) *Pages[E] {
	if l == nil || !l.Stitches() {
		return nil
	}
	clock := otter.NewCoarseClock(time.Millisecond)
	ps := &Pages[E]{l1: l, clock: clock}
	ps.c = otter.Must(&otter.Options[string, *Page[E]]{
		Clock:         clock,
		MaximumWeight: uint64(l.stitchMax),
		Weigher: func(_ string, p *Page[E]) uint32 {
			return uint32(min(p.Subtree.Size, 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *Page[E]]) time.Duration {
			return max(time.Until(e.Value.Subtree.Fresh), time.Millisecond)
		}),
		// A page replaced, dropped or evicted gives its bytes back.
		OnAtomicDeletion: func(ev otter.DeletionEvent[string, *Page[E]]) { l.unkeep(ev.Value.Subtree) },
	})
	return ps
}

// Get returns the page kept under key, servable or not (see
// Subtree.Servable), or nil.
func (ps *Pages[E]) Get(key string) *Page[E] {
	p, _ := ps.c.GetIfPresent(key)
	return p
}

// Drop drops the page kept under key, if any.
func (ps *Pages[E]) Drop(key string) { ps.c.Invalidate(key) }

// Claim reports whether the caller may build the page of key: nobody else
// is building it. A caller given true calls Release once it kept the page
// or gave up.
func (ps *Pages[E]) Claim(key string) bool {
	_, busy := ps.building.LoadOrStore(key, struct{}{})
	return !busy
}

// Release ends the claim Claim gave.
func (ps *Pages[E]) Release(key string) { ps.building.Delete(key) }

// Keep sets html as p's body and keeps p under key, within the stitched
// bytes (it keeps nothing past them), counting key's own bytes and the
// store's Overhead with p's.
func (ps *Pages[E]) Keep(key string, p *Page[E], html []byte) {
	ps.l1.seal(p.Subtree, html, StrSize(key)+Overhead)
	if !ps.l1.Reserve(p.Subtree.Size) {
		return
	}
	ps.c.Set(key, p)
}

// Sweep drops every kept page that a part of has left L1 (a page is
// otherwise dropped when next found out of date, or evicted). The composer
// sweeps after a purge, so that a purged fragment's pages give their
// memory back at once.
func (ps *Pages[E]) Sweep() {
	if ps == nil {
		return
	}
	for key, p := range ps.c.All() {
		for _, m := range p.Subtree.marks {
			if m.gone.Load() {
				ps.c.Invalidate(key)
				break
			}
		}
	}
}

// Cache returns the otter cache underneath, for reading, sizing and
// invalidating pages: a page that leaves it is counted out all the same.
func (ps *Pages[E]) Cache() *otter.Cache[string, *Page[E]] { return ps.c }

// Close stops the store's background goroutines.
func (ps *Pages[E]) Close() {
	if ps != nil {
		ps.c.StopAllGoroutines()
		ps.clock.Stop()
	}
}
