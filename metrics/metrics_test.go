package metrics

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/broadsheet/broadsheet/composer"
)

func TestSuggestTimeout(t *testing.T) {
	for _, tc := range []struct {
		p99, ceiling, want time.Duration
	}{
		{0, time.Second, 0},
		{time.Millisecond, time.Second, 10 * time.Millisecond},                   // floor
		{20 * time.Millisecond, time.Second, 30 * time.Millisecond},              // × 1.5
		{21 * time.Millisecond, time.Second, 35 * time.Millisecond},              // 31.5 rounded up to 5 ms
		{400 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}, // budget
		{400 * time.Millisecond, 0, 600 * time.Millisecond},                      // no ceiling
	} {
		if got := SuggestTimeout(tc.p99, tc.ceiling); got != tc.want {
			t.Errorf("SuggestTimeout(%s, %s) = %s, want %s", tc.p99, tc.ceiling, got, tc.want)
		}
	}
}

func testSite() *composer.Site {
	return &composer.Site{
		Fragments: map[string]*composer.Fragment{"a": {Spec: &composer.Spec{Name: "a"}}},
		Pages:     []*composer.Page{{Name: "p"}},
	}
}

func TestWindow(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	o := New(testSite(), Options{Now: func() time.Time { return now }})
	// 100 calls of 1..100 ms, a hit, and a timeout with its error.
	for i := 1; i <= 100; i++ {
		o.Include(composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeMiss, Tier: composer.TierCall, Duration: time.Duration(i) * time.Millisecond})
	}
	o.Include(composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeHit, Tier: composer.TierL1, Duration: 10 * time.Microsecond})
	o.Include(composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeTimeout, Duration: 100 * time.Millisecond, Err: errors.New("boom")})
	o.Include(composer.IncludeEvent{Fragment: "unknown", Outcome: composer.OutcomeMiss})
	s, ok := o.Fragment("a")
	if !ok {
		t.Fatal("no figures for a")
	}
	if s.Includes != 102 || s.Calls != 101 || s.Outcome(composer.OutcomeMiss) != 100 || s.Outcome(composer.OutcomeHit) != 1 {
		t.Errorf("counts: %+v", s)
	}
	within := func(name string, got, want time.Duration) {
		if got < want*3/4 || got > want*5/4 {
			t.Errorf("%s = %s, want about %s", name, got, want)
		}
	}
	within("call p50", s.CallP50, 50*time.Millisecond)
	within("call p99", s.CallP99, 99*time.Millisecond)
	if s.LastErr != "boom" || !s.LastErrAt.Equal(now) {
		t.Errorf("last error %q at %s", s.LastErr, s.LastErrAt)
	}
	if r := s.L1Ratio(); r <= 0 || r >= 0.05 {
		t.Errorf("L1 ratio %v", r)
	}
	// Five minutes later the figures have rolled out of the window.
	now = now.Add(windowSeconds * time.Second)
	if s, _ := o.Fragment("a"); s.Includes != 0 || s.LastErr != "" {
		t.Errorf("after the window: %+v", s)
	}
	if _, ok := o.Fragment("unknown"); ok {
		t.Errorf("figures for a fragment the site does not name")
	}
}

// TestIncludeDoesNotAllocate holds the Observer to the composer's contract:
// no allocation per include on the hot path.
func TestIncludeDoesNotAllocate(t *testing.T) {
	o := New(testSite(), Options{})
	ev := composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeHit, Tier: composer.TierL1, Duration: time.Millisecond}
	if n := testing.AllocsPerRun(1000, func() { o.Include(ev) }); n != 0 {
		t.Errorf("Include allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { o.Page("p", 200, time.Millisecond) }); n != 0 {
		t.Errorf("Page allocates %v times", n)
	}
}

func BenchmarkInclude(b *testing.B) {
	o := New(testSite(), Options{})
	ev := composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeMiss, Tier: composer.TierCall, Duration: 3 * time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o.Include(ev)
		}
	})
}

// TestIncludesMatchesInclude: a batch records exactly what the same
// includes recorded one by one do — window figures, histograms and L1
// counts — across runs of different fragments and unknown names.
func TestIncludesMatchesInclude(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	site := testSite()
	site.Fragments["b"] = &composer.Fragment{Spec: &composer.Spec{Name: "b"}}
	one, batch := New(site, Options{Now: clock}), New(site, Options{Now: clock})
	var evs []composer.IncludeEvent
	for i := range 700 {
		ev := composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeHit, Tier: composer.TierL1, Duration: time.Duration(i) * 7 * time.Microsecond}
		switch {
		case i%10 == 3:
			ev = composer.IncludeEvent{Fragment: "b", Outcome: composer.OutcomeMiss, Tier: composer.TierCall, Duration: time.Duration(i) * time.Millisecond}
		case i%50 == 7:
			ev = composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeTimeout, Duration: 3 * time.Second, Err: errors.New("late")}
		case i%70 == 9:
			ev = composer.IncludeEvent{Fragment: "nope", Outcome: composer.OutcomePlaceholder}
		case i%9 == 0:
			ev.Tier, ev.Outcome = composer.TierStore, composer.OutcomeStale
		}
		evs = append(evs, ev)
		one.Include(ev)
	}
	batch.Includes(evs[:333])
	batch.Includes(evs[333:])
	for _, name := range []string{"a", "b"} {
		s1, _ := one.Fragment(name)
		s2, _ := batch.Fragment(name)
		if s1 != s2 {
			t.Errorf("%s: one by one %+v, batched %+v", name, s1, s2)
		}
		if s1.Includes == 0 {
			t.Errorf("%s: no includes recorded", name)
		}
	}
	if one.l1Hits.Load() != batch.l1Hits.Load() || one.l1Miss.Load() != batch.l1Miss.Load() || batch.l1Hits.Load() == 0 {
		t.Errorf("l1 hits/misses one by one %d/%d, batched %d/%d", one.l1Hits.Load(), one.l1Miss.Load(), batch.l1Hits.Load(), batch.l1Miss.Load())
	}
	h1, h2 := histograms(t, one), histograms(t, batch)
	if len(h1) != len(h2) || len(h1) == 0 {
		t.Errorf("%d histograms one by one, %d batched", len(h1), len(h2))
	}
	for k, v := range h1 {
		if h2[k] != v {
			t.Errorf("%s: one by one %s, batched %s", k, v, h2[k])
		}
	}
}

// TestIncludeHistogram checks the exported histogram: cumulative buckets
// with the bounds' semantics (upper bound inclusive), count and sum.
func TestIncludeHistogram(t *testing.T) {
	o := New(testSite(), Options{})
	for _, d := range []time.Duration{0, 500 * time.Microsecond, 501 * time.Microsecond, 30 * time.Millisecond, time.Minute} {
		o.Include(composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeMiss, Tier: composer.TierCall, Duration: d})
	}
	got := histograms(t, o)["a/miss"]
	want := "count 5 sum 60.031001 le0.0005:2 le0.001:3 le0.0025:3 le0.005:3 le0.01:3 le0.025:3 le0.05:4 le0.1:4 le0.25:4 le0.5:4 le1:4 le2.5:4"
	if got != want {
		t.Errorf("a/miss:\n got %s\nwant %s", got, want)
	}
}

// histograms collects the include histograms as "fragment/outcome" →
// a readable dump.
func histograms(t *testing.T, o *Observer) map[string]string {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	(&includeCollector{o: o}).Collect(ch)
	close(ch)
	out := map[string]string{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var lbl []string
		for _, l := range pb.GetLabel() {
			lbl = append(lbl, l.GetValue())
		}
		h := pb.GetHistogram()
		s := fmt.Sprintf("count %d sum %g", h.GetSampleCount(), h.GetSampleSum())
		for _, b := range h.GetBucket() {
			s += fmt.Sprintf(" le%g:%d", b.GetUpperBound(), b.GetCumulativeCount())
		}
		out[strings.Join(lbl, "/")] = s
	}
	return out
}

// TestCountedEventIsThatManyIncludes: an event standing for n includes (a
// stitched subtree's, see composer.IncludeEvent.Count) records what n
// events record, in the window, the histograms and the L1 counts.
func TestCountedEventIsThatManyIncludes(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	one, counted := New(testSite(), Options{Now: clock}), New(testSite(), Options{Now: clock})
	ev := composer.IncludeEvent{Fragment: "a", Outcome: composer.OutcomeHit, Tier: composer.TierL1, Duration: 40 * time.Microsecond}
	for range 37 {
		one.Include(ev)
	}
	one.Includes([]composer.IncludeEvent{{Fragment: "a", Outcome: composer.OutcomeMiss, Tier: composer.TierCall, Duration: time.Millisecond}})
	ev.Count = 37
	counted.Includes([]composer.IncludeEvent{ev, {Fragment: "a", Outcome: composer.OutcomeMiss, Tier: composer.TierCall, Duration: time.Millisecond}})
	s1, _ := one.Fragment("a")
	s2, _ := counted.Fragment("a")
	if s1 != s2 || s2.Includes != 38 {
		t.Errorf("one by one %+v, counted %+v", s1, s2)
	}
	if one.l1Hits.Load() != 37 || counted.l1Hits.Load() != 37 || counted.l1Miss.Load() != 1 {
		t.Errorf("l1 hits one by one %d, counted %d (misses %d)", one.l1Hits.Load(), counted.l1Hits.Load(), counted.l1Miss.Load())
	}
	h1, h2 := histograms(t, one), histograms(t, counted)
	if h1["a/hit"] != h2["a/hit"] || !strings.HasPrefix(h2["a/hit"], "count 37 ") {
		t.Errorf("a/hit one by one %s, counted %s", h1["a/hit"], h2["a/hit"])
	}
}

// TestSeriesOnlyForWhatOccurred: the include histograms and fragment
// timeouts exist only for the fragment × outcome pairs that occurred, and
// page histograms only for the statuses that occurred, so that the
// number of series does not grow with the fragment kinds a site declares.
func TestSeriesOnlyForWhatOccurred(t *testing.T) {
	count := func(kinds int) int {
		site := &composer.Site{Fragments: map[string]*composer.Fragment{}, Pages: []*composer.Page{{Name: "p"}, {Name: "q"}}}
		for i := range kinds {
			name := fmt.Sprintf("f%04d", i)
			site.Fragments[name] = &composer.Fragment{Spec: &composer.Spec{Name: name}, Settings: composer.Settings{Timeout: 50 * time.Millisecond}}
		}
		o := New(site, Options{})
		for _, f := range []string{"f0000", "f0001", "f0002"} {
			o.Include(composer.IncludeEvent{Fragment: f, Outcome: composer.OutcomeHit, Tier: composer.TierL1, Duration: time.Millisecond})
		}
		o.Include(composer.IncludeEvent{Fragment: "f0000", Outcome: composer.OutcomeTimeout, Duration: 60 * time.Millisecond})
		o.Page("p", 200, time.Millisecond)
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(&includeCollector{o: o}); err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(o.pageDur); err != nil {
			t.Fatal(err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		series := 0
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if h := m.GetHistogram(); h != nil {
					series += len(h.GetBucket()) + 3 // the buckets, +Inf, _sum and _count
				} else {
					series++
				}
			}
		}
		return series
	}
	few, many := count(10), count(1000)
	// 4 include histograms (12 bounds, +Inf, _sum, _count), 1 page
	// histogram (13 bounds), 3 timeouts.
	const want = 4*(12+3) + (13 + 3) + 3
	if few != want || many != want {
		t.Errorf("series with 10 fragment kinds: %d, with 1,000: %d; want %d for both", few, many, want)
	}
}

// sharedTier is a shared cache tier with fixed figures.
type sharedTier struct {
	hits, misses, errs, rejected int64
	state                        string
}

func (s sharedTier) Lookups() (hits, misses int64)      { return s.hits, s.misses }
func (s sharedTier) Failures() (errors, rejected int64) { return s.errs, s.rejected }
func (s sharedTier) State() string                      { return s.state }

func TestCacheCollectorReadsTheSharedTier(t *testing.T) {
	c := &cacheCollector{o: New(testSite(), Options{}), store: sharedTier{hits: 1, misses: 2, errs: 3, rejected: 4, state: "half-open"}}
	want := `
# HELP broadsheet_cache_lookups_total Cache look-ups by tier and result (l1: per include; redis: per key).
# TYPE broadsheet_cache_lookups_total counter
broadsheet_cache_lookups_total{result="hit",tier="l1"} 0
broadsheet_cache_lookups_total{result="miss",tier="l1"} 0
broadsheet_cache_lookups_total{result="hit",tier="redis"} 1
broadsheet_cache_lookups_total{result="miss",tier="redis"} 2
# HELP broadsheet_redis_errors_total Redis calls that failed (timeout, network, Redis error).
# TYPE broadsheet_redis_errors_total counter
broadsheet_redis_errors_total 3
# HELP broadsheet_redis_rejected_total Redis calls refused by the open circuit breaker, without network access.
# TYPE broadsheet_redis_rejected_total counter
broadsheet_redis_rejected_total 4
# HELP broadsheet_redis_breaker_state Redis circuit breaker: 0 closed, 1 half-open, 2 open.
# TYPE broadsheet_redis_breaker_state gauge
broadsheet_redis_breaker_state 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Without a shared tier: the in-process tier's look-ups alone.
	if n := testutil.CollectAndCount(&cacheCollector{o: New(testSite(), Options{})}); n != 2 {
		t.Errorf("without a shared tier: %d series, want 2", n)
	}
}
