package httpcache

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// part is one include for a tally: made at t0, fresh and stale for the
// given durations from then.
type part struct {
	frag, key     string
	fresh, stale  time.Duration
	version       string
	createdOffset time.Duration
}

func tallyOf(parts ...part) *Tally {
	var t Tally
	t.Layout([]byte("<html>"))
	for _, p := range parts {
		made := t0.Add(p.createdOffset)
		t.Part(p.frag, p.key, p.version, made, made.Add(p.fresh), made.Add(p.fresh+p.stale))
	}
	return &t
}

func TestHead(t *testing.T) {
	a := part{frag: "a", key: "a?", fresh: time.Minute, stale: time.Hour, version: "1"}
	b := part{frag: "b", key: "b?x=1", fresh: 30 * time.Second, stale: 10 * time.Minute, version: "1"}
	for _, tc := range []struct {
		name   string
		t      func() *Tally
		at     time.Duration
		policy Policy
		reader bool
		want   string
		etag   bool
		keys   string
		vary   bool
	}{
		{name: "smallest freshness", t: func() *Tally { return tallyOf(a, b) },
			want: "public, max-age=30, stale-while-revalidate=600", etag: true, keys: "a b a? b?x=1"},
		{name: "later, rounded down", t: func() *Tally { return tallyOf(a, b) }, at: 10*time.Second + 500*time.Millisecond,
			want: "public, max-age=19, stale-while-revalidate=600", etag: true, keys: "a b a? b?x=1"},
		{name: "a stale include", t: func() *Tally { return tallyOf(a, b) }, at: 40 * time.Second,
			want: "public, max-age=0, stale-while-revalidate=590", etag: true, keys: "a b a? b?x=1"},
		{name: "past every stale time", t: func() *Tally { return tallyOf(a, b) }, at: time.Hour,
			want: "public, max-age=0", etag: true, keys: "a b a? b?x=1"},
		{name: "layout alone", t: func() *Tally { return tallyOf() }, want: "public, max-age=0", etag: true},
		{name: "max_age caps", t: func() *Tally { return tallyOf(a, b) }, policy: Policy{MaxAge: 10 * time.Second, HasMaxAge: true},
			want: "public, max-age=10, stale-while-revalidate=620", etag: true, keys: "a b a? b?x=1"},
		{name: "max_age never raises", t: func() *Tally { return tallyOf(a, b) }, policy: Policy{MaxAge: time.Hour, HasMaxAge: true},
			want: "public, max-age=30, stale-while-revalidate=600", etag: true, keys: "a b a? b?x=1"},
		{name: "max_age 0", t: func() *Tally { return tallyOf(a, b) }, policy: Policy{HasMaxAge: true},
			want: "public, max-age=0, stale-while-revalidate=630", etag: true, keys: "a b a? b?x=1"},
		{name: "s_maxage", t: func() *Tally { return tallyOf(a, b) }, policy: Policy{SMaxAge: 5 * time.Minute, HasSMaxAge: true},
			want: "public, max-age=30, s-maxage=300, stale-while-revalidate=600", etag: true, keys: "a b a? b?x=1"},
		{name: "private policy", t: func() *Tally { return tallyOf(a, b) }, policy: Policy{Private: true, SMaxAge: time.Minute, HasSMaxAge: true},
			want: "private, max-age=30, stale-while-revalidate=600", etag: true},
		{name: "signed-in reader", t: func() *Tally { return tallyOf(a, b) }, reader: true, want: "private, no-store", vary: true},
		{name: "per-reader include", t: func() *Tally { x := tallyOf(a, b); x.PerReader(); return x }, want: "private, no-store", vary: true},
		{name: "per-reader and incomplete", t: func() *Tally { x := tallyOf(a); x.Incomplete(); x.PerReader(); return x }, want: "private, no-store", vary: true},
		{name: "incomplete", t: func() *Tally { x := tallyOf(a, b); x.Incomplete(); return x }, want: "no-store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.t().Summary().Head(t0.Add(tc.at), tc.policy, tc.reader)
			if h.CacheControl != tc.want {
				t.Errorf("Cache-Control %q, want %q", h.CacheControl, tc.want)
			}
			if (h.ETag != "") != tc.etag || (h.ETag != "" && !strings.HasPrefix(h.ETag, `W/"`)) {
				t.Errorf("ETag %q, want one: %v", h.ETag, tc.etag)
			}
			if h.Keys != tc.keys {
				t.Errorf("keys %q, want %q", h.Keys, tc.keys)
			}
			if h.VaryCookie != tc.vary {
				t.Errorf("Vary: Cookie %v, want %v", h.VaryCookie, tc.vary)
			}
		})
	}
}

// TestETagNamesTheVersions: the tag changes with any part's key, version
// or creation, and with the layout; it is the same for the same parts in
// another order (a page kept whole lists them as it found them).
func TestETagNamesTheVersions(t *testing.T) {
	a := part{frag: "a", key: "a?", fresh: time.Minute, version: "1"}
	b := part{frag: "b", key: "b?", fresh: time.Minute, version: "1"}
	tag := func(x *Tally) string { return x.Summary().Head(t0, Policy{}, false).ETag }
	base := tag(tallyOf(a, b))
	if got := tag(tallyOf(b, a)); got != base {
		t.Errorf("order changed the tag: %s, %s", got, base)
	}
	a2 := a
	a2.version = "2"
	a3 := a
	a3.createdOffset = time.Nanosecond
	a4 := a
	a4.key = "a?x=1"
	layout := tallyOf(a, b)
	layout.Layout([]byte("<html lang=en>"))
	for name, x := range map[string]*Tally{"version": tallyOf(a2, b), "created": tallyOf(a3, b), "key": tallyOf(a4, b),
		"layout": layout, "one part fewer": tallyOf(a), "one more": tallyOf(a, b, b)} {
		if got := tag(x); got == base {
			t.Errorf("%s: tag unchanged %s", name, got)
		}
	}
}

func TestNoneMatch(t *testing.T) {
	const etag = `W/"0123abcd"`
	for _, tc := range []struct {
		field  string
		etag   string
		exists bool
		want   bool
	}{
		{`W/"0123abcd"`, etag, true, true},
		{`"0123abcd"`, etag, true, true}, // weak comparison
		{`W/"x", W/"0123abcd"`, etag, true, true},
		{` "x" ,  W/"0123abcd" `, etag, true, true},
		{`,,W/"0123abcd",`, etag, true, true},
		{`W/"0123abcd"`, `"0123abcd"`, true, true},
		{`W/"x"`, etag, true, false},
		{`*`, etag, true, true},
		{` * `, "", true, true},
		{`*`, etag, false, false},
		{`W/"0123abcd"`, "", true, false},
		{``, etag, true, false},
		{`0123abcd`, etag, true, false},            // unquoted: malformed
		{`"x" W/"0123abcd"`, etag, true, false},    // no comma: malformed
		{`W/"0123abcd`, etag, true, false},         // unterminated
		{`"a b", W/"0123abcd"`, etag, true, false}, // space inside a tag: malformed, nothing matches
		{`*, W/"0123abcd"`, etag, true, false},
		{`w/"0123abcd"`, etag, true, false},
	} {
		if got := NoneMatch(tc.field, tc.etag, tc.exists); got != tc.want {
			t.Errorf("NoneMatch(%q, %q, %v) = %v, want %v", tc.field, tc.etag, tc.exists, got, tc.want)
		}
	}
}

// FuzzNoneMatch: any header value is answered without a panic, and a
// match other than "*" holds the tag's opaque part.
func FuzzNoneMatch(f *testing.F) {
	for _, s := range []string{`W/"0123abcd"`, `"x", W/"0123abcd"`, `*`, `W/"`, `,,`, "\"\x80\"", `"a" "b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		const etag = `W/"0123abcd"`
		if NoneMatch(field, etag, true) && trimOWS(field) != "*" && !strings.Contains(field, `"0123abcd"`) {
			t.Fatalf("%q matched %s", field, etag)
		}
		_ = NoneMatch(field, "", false)
	})
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		cap  int
		adds [][2]string
		want string
	}{
		{"fragments then keys", 0, [][2]string{{"a", "a?i=1"}, {"b", "b?"}, {"a", "a?i=2"}, {"a", "a?i=1"}}, "a b a?i=1 b? a?i=2"},
		{"cap", 2, [][2]string{{"a", "a?i=1"}, {"a", "a?i=2"}, {"b", "b?"}, {"a", "a?i=3"}}, "a b a?i=1 a?i=2 a?* b?*"},
		{"no keys", -1, [][2]string{{"a", "a?i=1"}, {"b", "b?"}}, "a b a?* b?*"},
		{"a key that cannot travel", 0, [][2]string{{"a", "a?i=x y"}, {"a", "a?i=1"}}, "a a?*"},
		{"a fragment that cannot travel", 0, [][2]string{{"a,b", "a,b?"}, {"c", "c?"}}, "c c?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := Keys{Cap: tc.cap}
			for _, a := range tc.adds {
				k.Add(a[0], a[1])
			}
			if got := k.String(); got != tc.want {
				t.Errorf("keys %q, want %q", got, tc.want)
			}
		})
	}
	// However many includes, the header stays within its bound.
	var k Keys
	k.Cap = 1 << 20
	for i := range 5000 {
		k.Add("frag"+strings.Repeat("x", i%50), "frag?i="+strings.Repeat("y", 100)+string(rune('a'+i%26)))
	}
	if s := k.String(); len(s) > maxKeysBytes {
		t.Errorf("keys of %d bytes", len(s))
	}
}

func TestPurgeKeys(t *testing.T) {
	if got := strings.Join(IncludePurge("score", "score?match=m1"), " "); got != "score?match=m1 score?*" {
		t.Errorf("IncludePurge: %q", got)
	}
	if got := strings.Join(FragmentPurge("score"), " "); got != "score" {
		t.Errorf("FragmentPurge: %q", got)
	}
	if got := FragmentOf("score?match=m1"); got != "score" {
		t.Errorf("FragmentOf: %q", got)
	}
}

// BenchmarkTally2000 tallies a page of 2,000 includes of one fragment
// and makes its head: what a warm page's head costs beyond its look-up.
func BenchmarkTally2000(b *testing.B) {
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = "score?match=m" + strconv.Itoa(10000+i)
	}
	b.ReportAllocs()
	for b.Loop() {
		var t Tally
		t.Layout([]byte("<html><body><main></main></body></html>"))
		for _, k := range keys {
			t.Part("score", k, "1", t0, t0.Add(time.Hour), t0.Add(2*time.Hour))
		}
		_ = t.Summary().Head(t0, Policy{}, false)
	}
}
