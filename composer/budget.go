package composer

import (
	"errors"
	"sync/atomic"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
	"github.com/broadsheet/broadsheet/composer/render"
)

// The memory of results being made.
//
// A fragment call's cost to memory is its output and, for a parent, the
// parse of its includes: about 400 bytes per include on top of the HTML,
// so a scoreboard of 18,000 scores holds 1 MB of HTML and 7 MB of parse
// until its entry is in L1 (which then counts it, see Entry.Size). Clients
// choosing a new size on every request made calls like that faster than
// they finished — each page's call outlived its page, and the next page
// started another — and the composer's heap grew to gigabytes with 16 of
// them. The budget bounds the bytes of the calls in flight: a call's first
// callAllowance bytes are its own (the small fragments a page is made of
// never wait for a large one), what it makes past them is taken from the
// budget as it grows, and a call that finds the budget spent is refused at
// once, as a call refused a slot (MaxInFlight) is: its include gets its
// stale value or fallback, and its key is not held.

// DefaultComposeBytes is Options.ComposeBytes when it is 0.
const DefaultComposeBytes = 32 << 20

// callAllowance is what a call may make without taking from the budget.
const callAllowance = 64 << 10

// parseBytesPerInclude is what a parse holds per include while it is
// made (the pieces and tags of SplitIncludes, then the segments and
// includes of the entry), an upper bound of what segsSize counts.
const parseBytesPerInclude = 640

// errBusy refuses a call whose output the budget has no room for.
var errBusy = render.ErrBusy

// byteBudget is the bytes the calls in flight may hold beyond their
// allowances; limit 0 is no limit. Safe for concurrent use.
type byteBudget struct {
	limit int64
	used  atomic.Int64
}

// take takes n bytes if they fit.
func (b *byteBudget) take(n int64) bool {
	if b == nil || b.limit <= 0 || n <= 0 {
		return true
	}
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *byteBudget) give(n int64) {
	if b != nil && b.limit > 0 && n > 0 {
		b.used.Add(-n)
	}
}

// callBytes is what one call holds of a byteBudget: it grows with the
// call's output, and is given back whole by done. It belongs to one call.
type callBytes struct {
	b     *byteBudget
	made  int64 // bytes accounted to the call, allowance included
	taken int64 // of which taken from the budget
}

// Grow accounts for the call holding n bytes in all, and reports whether
// they fit (see render.Budget).
func (cb *callBytes) Grow(n int64) bool {
	if n <= cb.made {
		return true
	}
	need := max(n-callAllowance, 0) - cb.taken
	if !cb.b.take(need) {
		return false
	}
	cb.made, cb.taken = n, cb.taken+max(need, 0)
	return true
}

// done gives back what the call took.
func (cb *callBytes) done() {
	cb.b.give(cb.taken)
	cb.taken = 0
}

// parseBounded is parseSegments for a call's output, within the call's
// share of the budget.
func parseBounded(mem *callBytes, site *Site, parent *Spec, html []byte, spans []htmlnorm.Span) ([]segment, error) {
	if len(spans) == 0 {
		return nil, nil
	}
	if !mem.Grow(mem.made + int64(len(spans))*parseBytesPerInclude) {
		return nil, errBusy
	}
	return segmentsAt(site, parent, html, spans), nil
}

// countRefused counts a call that ended without a result and without its
// key's failure: every client waiting for it left, or the budget had no
// room for it.
// cause is the call context's cause.
func (c *Composer) countRefused(cause error) {
	if errors.Is(cause, errAbandoned) {
		c.stats.Cancelled.Add(1)
		return
	}
	c.stats.Busy.Add(1)
}
