package include

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		texts []string
		tags  []string // "fragment k=v" or "ERR"
	}{
		{"none", "<p>hi</p>", []string{"<p>hi</p>"}, nil},
		{"one", `a<bs-include fragment="score" match="m1"></bs-include>b`, []string{"a", "b"}, []string{"score match=m1"}},
		{"self closing", `<bs-include fragment="x" />z`, []string{"", "z"}, []string{"x"}},
		{"escaped value", `<bs-include fragment="s" q="a&amp;b&quot;c"></bs-include>`, []string{"", ""}, []string{`s q=a&b"c`}},
		{"not ours", `<bs-includes>x</bs-includes>`, []string{`<bs-includes>x</bs-includes>`}, nil},
		{"unclosed", `a<bs-include fragment="x">b`, []string{"a", "b"}, []string{"ERR"}},
		{"single quotes", `a<bs-include fragment='x'></bs-include>b`, []string{"a", "b"}, []string{"ERR"}},
		// Cut off by the end of the input, it is no tag (a browser drops it).
		{"no end", `a<bs-include fragment="x`, []string{`a<bs-include fragment="x`}, nil},
		{"duplicate attr", `<bs-include fragment="x" fragment="y"></bs-include>`, []string{"", ""}, []string{"ERR"}},
		{"two", `<bs-include fragment="a"></bs-include>-<bs-include fragment="b"></bs-include>`, []string{"", "-", ""}, []string{"a", "b"}},
		{"whitespace before close", "<bs-include fragment=\"a\">\n  </bs-include>.", []string{"", "."}, []string{"a"}},
		{"quoted >", `<bs-include fragment="a" q="x>y"></bs-include>`, []string{"", ""}, []string{"a q=x>y"}},
		{"page index", `<bs-include page-index="3"></bs-include>`, []string{"", ""}, []string{"page-index=3"}},
		// Only in markup.
		{"in a comment", `<!-- <bs-include fragment="x"></bs-include> -->`, []string{`<!-- <bs-include fragment="x"></bs-include> -->`}, nil},
		{"in a script", `<script>w('<bs-include fragment="x"></bs-include>')</script>`, []string{`<script>w('<bs-include fragment="x"></bs-include>')</script>`}, nil},
		{"in a style", `<style>/*<bs-include fragment="x">*/</style>`, []string{`<style>/*<bs-include fragment="x">*/</style>`}, nil},
		{"in an attribute", `<p title='<bs-include fragment="x"></bs-include>'>`, []string{`<p title='<bs-include fragment="x"></bs-include>'>`}, nil},
		{"after them", `<!-- <bs-include fragment="x"> --><bs-include fragment="y"></bs-include>`, []string{`<!-- <bs-include fragment="x"> -->`, ""}, []string{"y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pieces := Split([]byte(tc.in))
			var texts, tags []string
			for _, p := range pieces {
				texts = append(texts, string(p.Text))
				if !p.HasTag {
					continue
				}
				if p.Err != nil {
					tags = append(tags, "ERR")
					continue
				}
				var parts []string
				for _, a := range p.Tag.Attrs {
					if a.Name == "fragment" {
						parts = append([]string{a.Value}, parts...)
					} else {
						parts = append(parts, a.Name+"="+a.Value)
					}
				}
				tags = append(tags, strings.Join(parts, " "))
			}
			if strings.Join(texts, "|") != strings.Join(tc.texts, "|") || strings.Join(tags, "|") != strings.Join(tc.tags, "|") {
				t.Fatalf("texts %q tags %q, want %q %q", texts, tags, tc.texts, tc.tags)
			}
		})
	}
}

func TestAppendTagRoundTrip(t *testing.T) {
	tag := AppendTag(nil, "score", "match", `m1"><script>`, "x", "a&b")
	pieces := Split(tag)
	if len(pieces) != 2 || pieces[0].Err != nil {
		t.Fatalf("pieces = %+v", pieces)
	}
	if v, _ := pieces[0].Tag.Get("match"); v != `m1"><script>` {
		t.Fatalf("match = %q", v)
	}
	if v, _ := pieces[0].Tag.Get("x"); v != "a&b" {
		t.Fatalf("x = %q", v)
	}
}

func TestAppendPageIndex(t *testing.T) {
	pieces := Split(AppendPageIndex([]byte("a"), 12))
	if len(pieces) != 2 || pieces[0].Err != nil {
		t.Fatalf("pieces = %+v", pieces)
	}
	if v, _ := pieces[0].Tag.Get("page-index"); v != "12" {
		t.Fatalf("page-index = %q", v)
	}
}

// TestTooManyAttrs: a tag of more than MaxAttrs attributes is malformed.
func TestTooManyAttrs(t *testing.T) {
	for _, n := range []int{MaxAttrs, MaxAttrs + 1} {
		kv := make([]string, 0, 2*n)
		for i := range n - 1 {
			kv = append(kv, "p"+strings.Repeat("x", i), "v")
		}
		pieces := Split(AppendTag(nil, "f", kv...))
		if got, want := pieces[0].Err != nil, n > MaxAttrs; got != want {
			t.Errorf("%d attributes: malformed %v, want %v", n, got, want)
		}
	}
}

// TestInterned: an added name is shared, not copied, by every tag parsed.
func TestInterned(t *testing.T) {
	AddNames("match")
	a := Split(AppendTag(nil, "s", "match", "1"))[0].Tag.Attrs[1].Name
	b := Split(AppendTag(nil, "s", "match", "2"))[0].Tag.Attrs[1].Name
	if a != "match" || b != "match" {
		t.Fatalf("names %q %q", a, b)
	}
	name := []byte("match")
	if allocs := testing.AllocsPerRun(10, func() { sink = intern(name) }); allocs != 0 {
		t.Fatalf("interning an added name allocates %v times", allocs)
	}
}

var sink string

// FuzzSplit: never panics, never loses or invents bytes outside tags, and
// well-formed tags survive a round trip.
func FuzzSplit(f *testing.F) {
	f.Add([]byte(`<p>a</p><bs-include fragment="score" match="m1"></bs-include><p>b</p>`))
	f.Add([]byte(`<bs-include fragment="x"/>`))
	f.Add([]byte(`<bs-include fragment="x" a="1" b="2" ></bs-include>`))
	f.Add([]byte(`<bs-include`))
	f.Add([]byte(`<bs-include fragment="&lt;&#34;">`))
	f.Add([]byte(`<!-- <bs-include fragment="x"> --><script>'<bs-include fragment="y">'</script><p title="<bs-include fragment=z>">`))
	f.Add([]byte(`<svg><style><bs-include fragment="x"/></style></svg><textarea><bs-include fragment="t"></textarea>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		pieces := Split(in)
		var text int
		for i, p := range pieces {
			text += len(p.Text)
			if p.HasTag != (i < len(pieces)-1) {
				t.Fatalf("piece %d HasTag=%v of %d", i, p.HasTag, len(pieces))
			}
			if p.HasTag && p.Err == nil {
				var kv []string
				name := ""
				for _, a := range p.Tag.Attrs {
					if a.Name == "fragment" {
						name = a.Value
						continue
					}
					kv = append(kv, a.Name, a.Value)
				}
				tag := AppendTag(nil, name, kv...)
				if again := Split(tag); len(again) != 2 || again[0].Err != nil {
					t.Fatalf("re-rendered tag does not parse: %q", tag)
				}
			}
		}
		if text > len(in) {
			t.Fatalf("text %d > input %d", text, len(in))
		}
		if !bytes.Contains(in, []byte(openTag)) && (len(pieces) != 1 || !bytes.Equal(pieces[0].Text, in)) {
			t.Fatal("input without includes was changed")
		}
	})
}

// BenchmarkTagNames is what interning the attribute names buys each
// include tag parsed: a declared name is found in the interned set
// (interned) instead of copied into a string of its own (copied).
func BenchmarkTagNames(b *testing.B) {
	names := [][]byte{[]byte("fragment"), []byte("match"), []byte("page-index")}
	AddNames("match")
	b.Run("interned", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, n := range names {
				sink = intern(n)
			}
		}
	})
	b.Run("copied", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, n := range names {
				sink = string(n)
			}
		}
	})
}

// TestAppendTagAllocates once: a scoreboard writes thousands of tags.
// It is compared with one slices.Grow, which is what one allocation costs
// in this build (the race detector's adds its own).
func TestAppendTagAllocates(t *testing.T) {
	once := testing.AllocsPerRun(100, func() { bsink = slices.Grow([]byte(nil), 64) })
	if n := testing.AllocsPerRun(100, func() { bsink = AppendTag(nil, "score", "match", "m0042", "lang", "en") }); n != once {
		t.Errorf("AppendTag: %v allocations, want %v (one growth)", n, once)
	}
}

var bsink []byte
