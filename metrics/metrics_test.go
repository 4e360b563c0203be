package metrics

import (
	"errors"
	"testing"
	"time"

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
