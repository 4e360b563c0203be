package feed

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func fixed(at time.Time) *Feed {
	return New(Options{Now: func() time.Time { return at }})
}

func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	a, b := fixed(t0), fixed(t0)
	calls := []struct {
		name string
		call func(f *Feed) (any, error)
	}{
		{"Stories", func(f *Feed) (any, error) { return f.Stories(ctx, "", 100) }},
		{"MostRead", func(f *Feed) (any, error) { return f.MostRead(ctx, 10) }},
		{"Weather", func(f *Feed) (any, error) { w, _, err := f.Weather(ctx, "london"); return w, err }},
		{"Matches", func(f *Feed) (any, error) { return f.Matches(ctx, 500) }},
		{"Markets", func(f *Feed) (any, error) { return f.Markets(ctx) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			x, err := c.call(a)
			if err != nil {
				t.Fatal(err)
			}
			y, err := c.call(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(x, y) {
				t.Errorf("two feeds at the same time disagree:\n%v\n%v", x, y)
			}
		})
	}
}

func TestStories(t *testing.T) {
	ctx := context.Background()
	f := fixed(t0)
	all, err := f.Stories(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != StoryCount() || len(all) < 40 {
		t.Fatalf("got %d stories, want %d (at least 40)", len(all), StoryCount())
	}
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s.ID] || s.Headline == "" || s.ImageAlt == "" || SectionName(s.Section) == s.Section {
			t.Errorf("bad story %+v", s)
		}
		seen[s.ID] = true
		if s.Published.After(t0) {
			t.Errorf("%s published in the future: %v", s.ID, s.Published)
		}
	}
	sport, _ := f.Stories(ctx, "sport", 3)
	if len(sport) != 3 || sport[0].Section != "sport" {
		t.Errorf("Stories(sport, 3) = %v", sport)
	}
	if s, ok, _ := f.Story(ctx, "s001"); !ok || s.ID != "s001" {
		t.Errorf("Story(s001) = %v, %v", s, ok)
	}
	if _, ok, _ := f.Story(ctx, "s999"); ok {
		t.Error("Story(s999) found")
	}
}

func TestMostReadDriftsSlowly(t *testing.T) {
	ctx := context.Background()
	top := func(at time.Time) []string {
		r, err := fixed(at).MostRead(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i, x := range r {
			if x.Rank != i+1 {
				t.Fatalf("rank %d at index %d", x.Rank, i)
			}
			ids = append(ids, x.Story.ID)
		}
		return ids
	}
	bucket := t0.Truncate(5 * time.Minute)
	if a, b := top(bucket), top(bucket.Add(4*time.Minute)); !reflect.DeepEqual(a, b) {
		t.Errorf("ranking changed within its five-minute bucket: %v → %v", a, b)
	}
	if a, b := top(t0), top(t0.Add(6*time.Hour)); reflect.DeepEqual(a, b) {
		t.Errorf("ranking did not change in six hours: %v", a)
	}
}

func TestWeather(t *testing.T) {
	ctx := context.Background()
	if len(Cities()) < 10 {
		t.Fatalf("only %d cities", len(Cities()))
	}
	for _, c := range Cities() {
		w, ok, err := fixed(t0).Weather(ctx, c.Slug)
		if err != nil || !ok {
			t.Fatalf("Weather(%s) = %v, %v", c.Slug, ok, err)
		}
		if len(w.Forecast) != 3 || w.Condition.Label() == "" || w.Temp < -40 || w.Temp > 50 {
			t.Errorf("bad weather %+v", w)
		}
		for _, d := range w.Forecast {
			if d.Low > d.High {
				t.Errorf("%s: low %d above high %d", c.Slug, d.Low, d.High)
			}
		}
	}
	if _, ok, _ := fixed(t0).Weather(ctx, "atlantis"); ok {
		t.Error("Weather(atlantis) found")
	}
	// Over an hour, some reading must change.
	changed := false
	a, _, _ := fixed(t0).Weather(ctx, "london")
	for m := 1; m <= 60 && !changed; m++ {
		b, _, _ := fixed(t0.Add(time.Duration(m)*time.Minute)).Weather(ctx, "london")
		changed = a.Temp != b.Temp || a.Condition != b.Condition || a.Wind != b.Wind
	}
	if !changed {
		t.Error("London's weather did not change in an hour")
	}
}

func TestMatches20000(t *testing.T) {
	ctx := context.Background()
	f := fixed(t0)
	ms, err := f.Matches(ctx, MaxMatches)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != MaxMatches {
		t.Fatalf("got %d matches, want %d", len(ms), MaxMatches)
	}
	if ms[0].ID != "m0001" || ms[MaxMatches-1].ID != "m20000" {
		t.Errorf("ids run from %s to %s", ms[0].ID, ms[MaxMatches-1].ID)
	}
	statuses := map[Status]int{}
	for _, m := range ms {
		statuses[m.Status]++
		if m.Home == m.Away {
			t.Fatalf("%s: %s plays itself", m.ID, m.Home)
		}
		got, ok, err := f.Match(ctx, m.ID)
		if err != nil || !ok || got != m {
			t.Fatalf("Match(%s) = %+v, %v, %v; want %+v", m.ID, got, ok, err, m)
		}
	}
	for _, s := range []Status{Scheduled, FirstHalf, HalfTime, Second, FullTime} {
		if statuses[s] == 0 {
			t.Errorf("no match is %s", s)
		}
	}
	if n, _ := f.Matches(ctx, MaxMatches+1); len(n) != MaxMatches {
		t.Errorf("Matches(MaxMatches+1) returned %d", len(n))
	}
	for _, id := range []string{"m0000", "m1", "m00001", "m20001", "x0001", ""} {
		if _, ok, _ := f.Match(ctx, id); ok {
			t.Errorf("Match(%q) found", id)
		}
	}
}

func TestScoresOnlyGoUpWithinAMatch(t *testing.T) {
	ctx := context.Background()
	prev, _, _ := fixed(t0).Match(ctx, "m0042")
	for s := 10; s < 3600; s += 10 {
		m, _, _ := fixed(t0.Add(time.Duration(s)*time.Second)).Match(ctx, "m0042")
		if m.KickOff.Equal(prev.KickOff) && (m.HomeGoals < prev.HomeGoals || m.AwayGoals < prev.AwayGoals) {
			t.Fatalf("score went down: %+v → %+v", prev, m)
		}
		prev = m
	}
}

func TestMatchIDsByLeague(t *testing.T) {
	ctx := context.Background()
	f := fixed(t0)
	ids, _ := f.MatchIDs(ctx, "first", MaxMatches)
	if len(ids) != MatchesPerLeague {
		t.Fatalf("got %d first-division ids, want %d", len(ids), MatchesPerLeague)
	}
	for _, id := range ids[:50] {
		m, _, _ := f.Match(ctx, id)
		if m.League.Slug != "first" {
			t.Fatalf("%s is in %s", id, m.League.Slug)
		}
	}
	live, _ := f.LiveMatches(ctx, "premier", 6)
	if len(live) != 6 {
		t.Fatalf("got %d live matches", len(live))
	}
	for _, m := range live {
		if !m.Live() || m.League.Slug != "premier" {
			t.Errorf("not a live premier match: %+v", m)
		}
	}
}

func TestContextCancelled(t *testing.T) {
	f := New(Options{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.Stories(ctx, "", 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("returned after %v", d)
	}

	// An ended context fails even with no latency to wait.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, _, err := New(Options{}).Match(ctx, "m0001"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

// TestAnswerWinsOverDeadline checks that an answer ready together with
// the end of the call is taken, every time (a bare select takes either).
func TestAnswerWinsOverDeadline(t *testing.T) {
	done := make(chan struct{})
	close(done)
	for i := range 200 {
		timer := make(chan time.Time, 1)
		timer <- t0
		if !answered(timer, done) {
			t.Fatalf("try %d: the deadline won over a ready answer", i)
		}
	}
	if answered(make(chan time.Time), done) {
		t.Fatal("answered with no answer ready")
	}
}

func TestSlowEvery(t *testing.T) {
	f := New(Options{SlowEvery: 3, SlowLatency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	for i := 1; i <= 3; i++ {
		_, err := f.Markets(ctx)
		if slow := i == 3; slow != (err != nil) {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
}

func TestConfigureConcurrently(t *testing.T) {
	f := New(Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			f.Configure(Options{Now: func() time.Time { return t0 }})
		}
	}()
	for range 100 {
		if _, err := f.Markets(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

// TestMatchIDRoundTrip: every match number is written as before (m%04d)
// and read back; other numbers are not read.
func TestMatchIDRoundTrip(t *testing.T) {
	for i := 0; i <= MaxMatches+1; i++ {
		id := matchID(i)
		if want := fmt.Sprintf("m%04d", i); id != want {
			t.Fatalf("matchID(%d) = %q, want %q", i, id, want)
		}
		want := i
		if i < 1 || i > MaxMatches {
			want = 0
		}
		if got := parseMatchID(id); got != want {
			t.Fatalf("parseMatchID(%q) = %d, want %d", id, got, want)
		}
	}
}

// FuzzParseMatchID: parseMatchID reads exactly what the parser it
// replaced read (strconv.Atoi, then the id written back with fmt must be
// the same), and only ids matchID writes, within 1…MaxMatches.
func FuzzParseMatchID(f *testing.F) {
	for _, s := range []string{"m0001", "m0042", "m20000", "m20001", "m042", "m00042", "m+042", "m-001", "M0042", "m12345", "m01234", "", "m", "m٤٢٤٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		i := parseMatchID(id)
		want := 0
		if rest, ok := strings.CutPrefix(id, "m"); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= MaxMatches && fmt.Sprintf("m%04d", n) == id {
				want = n
			}
		}
		if i != want {
			t.Fatalf("parseMatchID(%q) = %d, want %d", id, i, want)
		}
		if i != 0 && matchID(i) != id {
			t.Fatalf("parseMatchID(%q) = %d, which matchID writes as %q", id, i, matchID(i))
		}
	})
}

// TestLeagueOf checks that LeagueOf names a match's division as Match does,
// and refuses what is not a match id.
func TestLeagueOf(t *testing.T) {
	ctx := context.Background()
	f := fixed(t0)
	ids, _ := f.MatchIDs(ctx, "", 40)
	ids = append(ids, "m19999", "m20000")
	for _, id := range ids {
		m, _, _ := f.Match(ctx, id)
		l, ok := LeagueOf(id)
		if !ok || l != m.League {
			t.Errorf("LeagueOf(%s) = %v, %v; its match is in %v", id, l, ok, m.League)
		}
	}
	for _, id := range []string{"", "m0", "m0000", "m20001", "m001", "x0001", "m00001"} {
		if l, ok := LeagueOf(id); ok {
			t.Errorf("LeagueOf(%q) = %v, want none", id, l)
		}
	}
}
