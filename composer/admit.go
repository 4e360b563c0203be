package composer

import (
	"hash/maphash"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/maypok86/otter/v2"
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
//
// The expectation is learnt per page key (the page and the request values
// its includes bind, see pagekey.go) as well as per page: a scores page
// costs what its ?size says. Learnt per page alone, a reader asking for
// 18,000 scores raised what every scores page was expected to cost, and a
// normal client's page of 2,000 was refused while the reader's page was
// held (cmd/chaos -scenarios slowloris, slow readers: 149 × 503 of 750).
// A key not yet seen is expected to cost what its page has cost lately.
// The keys are kept in a bounded W-TinyLFU cache (otter, as L1): keys
// asked for often stay, so that an attacker's random sizes cannot push a
// normal client's out.

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
	pages    sync.Map                        // page name → *pageCost
	keys     *otter.Cache[uint64, *pageCost] // hashed page key → *pageCost
	seed     maphash.Seed
}

// costKeys is how many page keys admission keeps the cost of.
const costKeys = 4096

func newAdmission(limit int64) *admission {
	return &admission{
		limit: limit,
		keys:  otter.Must(&otter.Options[uint64, *pageCost]{MaximumSize: costKeys}),
		seed:  maphash.MakeSeed(),
	}
}

// admitted is a page admitted, to be passed to done.
type admitted struct {
	page     *pageCost
	key      uint64
	reserved int64
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

// admit reserves the includes expected of page's request of key (see
// pageKeyer.key); it reports false, reserving nothing, when they do not
// fit beside those in flight. An admitted page calls done with the
// includes it had.
func (a *admission) admit(page, key string) (adm admitted, ok bool) {
	v, found := a.pages.Load(page)
	if !found {
		v, _ = a.pages.LoadOrStore(page, new(pageCost))
	}
	adm.page = v.(*pageCost)
	adm.key = maphash.String(a.seed, key)
	expected := adm.page.expected()
	if kc, ok := a.keys.GetIfPresent(adm.key); ok {
		expected = kc.expected()
	}
	reserved := max(expected, 1)
	if a.limit <= 0 {
		return adm, true
	}
	if n := a.inFlight.Add(reserved); n > a.limit && n != reserved && reserved > a.limit/100 {
		a.inFlight.Add(-reserved)
		return admitted{}, false
	}
	adm.reserved = reserved
	return adm, true
}

// done releases an admitted page's reservation and records its includes,
// for its page and its key.
func (a *admission) done(adm admitted, includes int64) {
	a.inFlight.Add(-adm.reserved)
	adm.page.record(includes)
	kc, ok := a.keys.GetIfPresent(adm.key)
	if !ok {
		kc, _ = a.keys.SetIfAbsent(adm.key, new(pageCost))
	}
	kc.record(includes)
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
