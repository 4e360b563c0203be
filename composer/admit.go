package composer

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// Admission by cost.
//
// A page's cost is its includes: each is a node, a look-up, often a call,
// and its share of the page's bytes. The front page has 31 of them; the
// scores page as many as its ?size asks, up to 20,000. Bounding pages in
// flight alone (-max-pages) treats them alike: sixteen clients asking for
// scoreboards of random sizes held sixteen pages of thousands of
// includes each, and the front page, behind them, waited seconds or was
// shed. The composer therefore also bounds the includes of the pages in
// flight (Options.MaxIncludesInFlight). It cannot know a page's includes
// before composing it (the scoreboard says how many scores it has once it
// is rendered), so it expects what the same page had recently (a moving
// average per page, see pageCost): a page whose expected includes do not
// fit beside those in flight is refused at once, a 503 with Retry-After,
// before any work. A page is always admitted when nothing else is in
// flight, so that the largest page a site allows can always be served,
// and so is a small page (expected at most a hundredth of the bound: the
// front page among scoreboards), whose includes the pages in flight
// (-max-pages) bound.

// DefaultMaxIncludesInFlight is Options.MaxIncludesInFlight when it is 0:
// the demo's largest page (20,000 scores) and room for small pages beside
// it. Measured with cmd/chaos -scenarios memory: at 50,000, sixteen
// clients asking for random scoreboard sizes kept five or six of them in
// flight and the front page's median was 1.1 s; at 20,000 the median was
// 47 ms.
const DefaultMaxIncludesInFlight = 25000

// admission holds the includes expected of the pages in flight.
type admission struct {
	limit    int64
	inFlight atomic.Int64
	pages    sync.Map // page name → *pageCost
}

// pageCost is the includes a page had, as a moving average (×16, in
// fixed point).
type pageCost struct{ avg atomic.Int64 }

func (p *pageCost) expected() int64 { return p.avg.Load() >> 4 }

// record folds a page's includes into the average (weight 1/4).
func (p *pageCost) record(n int64) {
	for {
		old := p.avg.Load()
		nw := old + (n<<4-old)/4
		if old == 0 {
			nw = n << 4
		}
		if p.avg.CompareAndSwap(old, nw) {
			return
		}
	}
}

// admit reserves page's expected includes; it reports false, reserving
// nothing, when they do not fit beside those in flight. An admitted page
// calls done with the includes it had.
func (a *admission) admit(page string) (cost *pageCost, reserved int64, ok bool) {
	v, found := a.pages.Load(page)
	if !found {
		v, _ = a.pages.LoadOrStore(page, new(pageCost))
	}
	cost = v.(*pageCost)
	reserved = max(cost.expected(), 1)
	if a.limit <= 0 {
		return cost, 0, true
	}
	if n := a.inFlight.Add(reserved); n > a.limit && n != reserved && reserved > a.limit/100 {
		a.inFlight.Add(-reserved)
		return cost, 0, false
	}
	return cost, reserved, true
}

// done releases an admitted page's reservation and records its includes.
func (a *admission) done(cost *pageCost, reserved, includes int64) {
	a.inFlight.Add(-reserved)
	cost.record(includes)
}

// refuse answers a page that was not admitted.
func (c *Composer) refuse(w http.ResponseWriter) {
	c.stats.Refused.Add(1)
	w.Header().Set("Retry-After", "1")
	c.errorPage(w, http.StatusServiceUnavailable, "We are very busy right now. Please try again in a moment.")
}

// IncludesInFlight returns the includes expected of the pages being
// composed now (see Options.MaxIncludesInFlight).
func (c *Composer) IncludesInFlight() int64 { return c.admission.inFlight.Load() }
