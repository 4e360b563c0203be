// Package metrics observes the composer: a composer.Observer that keeps a
// rolling window of per-fragment figures for the fragment explorer, and the
// Prometheus collectors served on /metrics.
//
// Label values are bounded: the fragment label only takes the names of
// registered fragments (anything else is counted as "_other"), the page
// label only the names of configured pages, and raw request paths are never
// labels.
//
// The lifecycle:
//
//  1. New makes an Observer for the first Site; it is passed to the composer
//     as composer.Options.Observer.
//  2. Register adds the Observer's collectors, and collectors that read the
//     composer's and the Redis store's counters at scrape time, to a
//     Prometheus registry.
//  3. SetSite is called with every new Site (reload, live override), before
//     or right after the composer starts using it; fragments and pages
//     already known keep their figures.
package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/broadsheet/broadsheet/composer"
)

// Other is the label value of a fragment or page the Site does not name.
const Other = "_other"

// Options tune an Observer. The zero value is usable.
type Options struct {
	// Now is the clock of the rolling window; nil means time.Now.
	Now func() time.Time
}

// Observer implements composer.Observer. It is safe for concurrent use; its
// Include and Page methods do not allocate for known fragments and pages
// and take one uncontended-in-the-common-case mutex per include.
type Observer struct {
	now   func() time.Time
	mu    sync.Mutex // serialises SetSite
	site  atomic.Pointer[composer.Site]
	frags atomic.Pointer[map[string]*fragment]
	pages atomic.Pointer[map[string]*page]
	other *fragment

	pageDur *prometheus.HistogramVec
	events  *prometheus.HistogramVec
	l1Hits  atomic.Int64
	l1Miss  atomic.Int64
}

var _ composer.Observer = (*Observer)(nil)

type fragment struct {
	name string
	win  window
	// byOutcome are the include_duration histograms of this fragment.
	byOutcome [nOutcomes]durHist
}

// commonStatuses are the page statuses whose histogram children are
// resolved ahead of time; others are looked up when they happen.
var commonStatuses = [...]int{200, 304, 400, 404, 500, 503}

type page struct {
	name string
	// byStatus are resolved on a status's first page: a histogram child
	// resolved ahead of time would be exported, all zeros, before any
	// page had that status.
	byStatus [len(commonStatuses)]atomic.Pointer[observerRef]
}

type observerRef struct{ prometheus.Observer }

// New returns an Observer knowing site's fragments and pages.
func New(site *composer.Site, opts Options) *Observer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o := &Observer{
		now: opts.Now,
		pageDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "broadsheet_page_duration_seconds",
			Help:    "Time from a page request's arrival to its last byte, by configured page and status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .15, .2, .25, .3, .4, .5, 1, 2.5},
		}, []string{"page", "status"}),
		events: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "broadsheet_event_visible_seconds",
			Help:    "Time from an event's publication to its refreshed entry being served by this instance, by fragment.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"fragment"}),
	}
	empty := map[string]*fragment{}
	o.frags.Store(&empty)
	emptyPages := map[string]*page{}
	o.pages.Store(&emptyPages)
	o.other = o.newFragment(Other)
	o.SetSite(site)
	return o
}

func (o *Observer) newFragment(name string) *fragment {
	return &fragment{name: name}
}

// SetSite makes the Observer know site's fragments and pages. Figures of
// fragments and pages it already knew are kept, including those of names
// the new site drops (a later reload may bring them back).
func (o *Observer) SetSite(site *composer.Site) {
	if site == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.site.Store(site)
	old := *o.frags.Load()
	frags := make(map[string]*fragment, len(old)+len(site.Fragments))
	for n, f := range old {
		frags[n] = f
	}
	for n := range site.Fragments {
		if frags[n] == nil {
			frags[n] = o.newFragment(n)
		}
	}
	o.frags.Store(&frags)

	oldPages := *o.pages.Load()
	pages := make(map[string]*page, len(oldPages)+len(site.Pages))
	for n, p := range oldPages {
		pages[n] = p
	}
	for _, sp := range site.Pages {
		if pages[sp.Name] != nil {
			continue
		}
		pages[sp.Name] = &page{name: sp.Name}
	}
	o.pages.Store(&pages)
}

// Include records one include. It implements composer.Observer.
func (o *Observer) Include(ev composer.IncludeEvent) {
	evs := [1]composer.IncludeEvent{ev}
	o.Includes(evs[:])
}

// Includes records a batch of includes, typically one page's: one clock
// reading for the batch, and per run of includes of the same fragment one
// lock of its window and one atomic add per histogram bucket touched. It
// implements composer.IncludeBatcher.
func (o *Observer) Includes(evs []composer.IncludeEvent) {
	if len(evs) == 0 {
		return
	}
	now := o.now()
	var hits, misses int64
	for i := 0; i < len(evs); {
		j := i + 1
		for j < len(evs) && evs[j].Fragment == evs[i].Fragment {
			j++
		}
		run := evs[i:j]
		f := o.fragment(run[0].Fragment)
		var b histBatch
		for k := range run {
			ev := &run[k]
			n := ev.N()
			if int(ev.Outcome) < nOutcomes {
				b.add(ev.Outcome, ev.Duration, n)
			}
			switch l1Lookup(ev) {
			case 1:
				hits += int64(n)
			case -1:
				misses += int64(n)
			}
		}
		b.addTo(&f.byOutcome)
		f.win.addBatch(now, run)
		i = j
	}
	if hits > 0 {
		o.l1Hits.Add(hits)
	}
	if misses > 0 {
		o.l1Miss.Add(misses)
	}
}

func (o *Observer) fragment(name string) *fragment {
	if f := (*o.frags.Load())[name]; f != nil {
		return f
	}
	return o.other
}

// l1Lookup is 1 for an include served from the in-process tier, -1 for one
// that looked there in vain, 0 for one that never looked (placeholders).
func l1Lookup(ev *composer.IncludeEvent) int {
	switch {
	case ev.Tier == composer.TierL1:
		return 1
	case ev.Tier == composer.TierStore, ev.Tier == composer.TierCall,
		ev.Outcome == composer.OutcomeTimeout, ev.Outcome == composer.OutcomeError:
		return -1
	}
	return 0
}

// EventVisible records the publish-to-visible time of one event-driven
// refresh (see package events).
func (o *Observer) EventVisible(fragment string, d time.Duration) {
	if (*o.frags.Load())[fragment] == nil {
		fragment = Other
	}
	o.events.WithLabelValues(fragment).Observe(d.Seconds())
}

// Page records one page. It implements composer.Observer.
func (o *Observer) Page(name string, status int, d time.Duration) {
	p := (*o.pages.Load())[name]
	if p == nil {
		name = Other
	} else {
		for i, st := range commonStatuses {
			if st == status {
				ref := p.byStatus[i].Load()
				if ref == nil {
					// Two first pages may both resolve it: the same child.
					ref = &observerRef{o.pageDur.WithLabelValues(name, strconv.Itoa(st))}
					p.byStatus[i].Store(ref)
				}
				ref.Observe(d.Seconds())
				return
			}
		}
	}
	o.pageDur.WithLabelValues(name, strconv.Itoa(status)).Observe(d.Seconds())
}

// Fragment returns the rolling figures of the named fragment; ok is false
// for a fragment the Observer has never been told of.
func (o *Observer) Fragment(name string) (s Snapshot, ok bool) {
	f := (*o.frags.Load())[name]
	if f == nil {
		return Snapshot{}, false
	}
	return f.win.snapshot(o.now()), true
}

// StoreStats is what the metrics read from the shared cache tier at scrape
// time: running totals and the circuit breaker's state. The Redis store
// satisfies it (package server wires the two); metrics depends on no store.
type StoreStats interface {
	// Lookups returns the keys looked up and found, and those not found.
	Lookups() (hits, misses int64)
	// Failures returns the calls that failed (timeout, network, Redis
	// error), and those the open breaker refused without network access.
	Failures() (errors, rejected int64)
	// State is the circuit breaker's state: "closed", "half-open" or "open".
	State() string
}

// Register adds to reg the Observer's collectors, collectors reading
// comp's counters and, when store is not nil, the shared tier's, all read
// at scrape time, plus the Go runtime and process collectors.
func (o *Observer) Register(reg prometheus.Registerer, comp *composer.Composer, store StoreStats) error {
	st := comp.Stats()
	cs := []prometheus.Collector{
		&includeCollector{o: o}, o.pageDur, o.events,
		&cacheCollector{o: o, store: store},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		counterFunc("broadsheet_budget_overruns_total", "Pages finished more than 10 ms after their budget.", st.Overruns.Load),
		counterFunc("broadsheet_fragment_panics_total", "Fragment calls that panicked.", st.Panics.Load),
		counterFunc("broadsheet_fragment_calls_total", "Fragment calls started.", st.Calls.Load),
		counterFunc("broadsheet_fragment_calls_abandoned_total", "Fragment calls that outlived their timeout (left to finish in the background).", st.Abandoned.Load),
		counterFunc("broadsheet_fragment_calls_shed_total", "Fragment calls not made: every include waiting had passed its deadline before the call could start, and no cache tier would keep the result.", st.Shed.Load),
		counterFunc("broadsheet_fragment_calls_refused_total", "Fragment calls refused because too many were in flight.", st.Overloaded.Load),
		counterFunc("broadsheet_background_refreshes_total", "Stale-while-revalidate refreshes started.", st.Refreshes.Load),
		counterFunc("broadsheet_fragment_html_normalized_total", "Fragment values (fresh renders and entries read from the shared tier) whose HTML was rewritten to close what it opened and drop what it closed without opening.", st.Normalized.Load),
		counterFunc("broadsheet_includes_stitched_total", "Includes served inside a stitched subtree: their parent's subtree, kept written out while none of its includes changed, with no look-up of their own.", st.Stitched.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "broadsheet_stitched_bytes",
			Help: "Memory held by stitched subtrees (bounded by -stitch-mb).",
		}, func() float64 { return float64(comp.StitchedBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "broadsheet_fragment_call_limit",
			Help: "Limit of fragment calls in flight now, lowered while the process's goroutines wait longer than -sched-target to run (calls over it wait in order, and are shed once nobody waits for them).",
		}, func() float64 { return float64(st.CallLimit.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "broadsheet_fragment_calls_in_flight",
			Help: "Fragment calls running now, including background refreshes and calls past their deadline.",
		}, func() float64 { return float64(st.InFlight.Load()) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func counterFunc(name, help string, f func() int64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
}

// cacheCollector reads the cache tiers' figures at scrape time: L1 look-ups
// as the Observer counted them (one per include), and the shared tier's
// look-ups (one per key), errors and breaker state from its Stats.
type cacheCollector struct {
	o     *Observer
	store StoreStats // nil without a shared tier
}

var (
	lookupsDesc = prometheus.NewDesc("broadsheet_cache_lookups_total",
		"Cache look-ups by tier and result (l1: per include; redis: per key).", []string{"tier", "result"}, nil)
	redisErrDesc = prometheus.NewDesc("broadsheet_redis_errors_total",
		"Redis calls that failed (timeout, network, Redis error).", nil, nil)
	redisRejDesc = prometheus.NewDesc("broadsheet_redis_rejected_total",
		"Redis calls refused by the open circuit breaker, without network access.", nil, nil)
	breakerDesc = prometheus.NewDesc("broadsheet_redis_breaker_state",
		"Redis circuit breaker: 0 closed, 1 half-open, 2 open.", nil, nil)
)

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lookupsDesc
	if c.store != nil {
		ch <- redisErrDesc
		ch <- redisRejDesc
		ch <- breakerDesc
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(lookupsDesc, prometheus.CounterValue, float64(c.o.l1Hits.Load()), "l1", "hit")
	ch <- prometheus.MustNewConstMetric(lookupsDesc, prometheus.CounterValue, float64(c.o.l1Miss.Load()), "l1", "miss")
	if c.store == nil {
		return
	}
	hits, misses := c.store.Lookups()
	errs, rejected := c.store.Failures()
	ch <- prometheus.MustNewConstMetric(lookupsDesc, prometheus.CounterValue, float64(hits), "redis", "hit")
	ch <- prometheus.MustNewConstMetric(lookupsDesc, prometheus.CounterValue, float64(misses), "redis", "miss")
	ch <- prometheus.MustNewConstMetric(redisErrDesc, prometheus.CounterValue, float64(errs))
	ch <- prometheus.MustNewConstMetric(redisRejDesc, prometheus.CounterValue, float64(rejected))
	ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, breakerValue(c.store.State()))
}

func breakerValue(state string) float64 {
	switch state {
	case "closed":
		return 0
	case "half-open":
		return 1
	}
	return 2
}
