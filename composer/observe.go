package composer

import (
	"sync"
	"time"

	"github.com/broadsheet/broadsheet/composer/internal/tier"
)

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
		if !r.obsDone.Load() {
			return
		}
		// The walk is under way or over. Once it is over, n is either
		// in one of its batches (it was done when the walk came to it)
		// or settled after the walk passed it, and reports itself: a
		// settle that merely ran late never takes n from the walk.
		r.obsWalk.Lock()
		late := n.observed.CompareAndSwap(false, true)
		r.obsWalk.Unlock()
		if !late {
			return
		}
	}
	c.opts.Observer.Include(eventOf(n))
	if n.stitch != nil {
		for _, fc := range n.stitch.Counts {
			c.opts.Observer.Include(stitchedEvent(n, fc))
		}
	}
}

// stitchedEvent stands for the includes of one fragment in n's stitched
// subtree: served with n, as n was.
func stitchedEvent(n *node, fc tier.Count) IncludeEvent {
	return IncludeEvent{Fragment: fc.Fragment, Outcome: n.outcome, Tier: n.tier, Duration: n.dur, Count: fc.N}
}

// observeStitchedPage reports the includes of a page kept whole: one event
// per fragment, a hit from L1, as a stitched subtree's are.
func (c *Composer) observeStitchedPage(st *subtree, d time.Duration) {
	if c.opts.Observer == nil {
		return
	}
	evs := make([]IncludeEvent, len(st.Counts))
	for i, fc := range st.Counts {
		evs[i] = IncludeEvent{Fragment: fc.Fragment, Outcome: OutcomeHit, Tier: TierL1, Duration: d, Count: fc.N}
	}
	if c.batcher != nil {
		c.batcher.Includes(evs)
		return
	}
	for _, ev := range evs {
		c.opts.Observer.Include(ev)
	}
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
	r.obsWalk.Lock()
	defer r.obsWalk.Unlock()
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
			for _, fc := range n.stitch.Counts {
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
