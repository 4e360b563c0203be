package tier

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/broadsheet/broadsheet/composer/compress"
)

// family is a parent held by L1 and its parts, each held too.
type family struct {
	parent *item
	parts  []*item
}

// newFamily puts a parent and n parts (of fragment "part") in l.
func newFamily(l *L1[*item], c *clock, n int) family {
	f := family{parent: c.item("parent")}
	l.Set(f.parent)
	for i := range n {
		p := c.item("part?" + strconv.Itoa(i))
		l.Set(p)
		f.parts = append(f.parts, p)
	}
	return f
}

// subtree builds f's subtree under scope, its body html.
func (f family) subtree(scope any) *Subtree[*item] {
	st := NewSubtree[*item](scope, f.parent.fresh)
	for _, p := range f.parts {
		st.Add(p, "part", p.fresh, []string{"/part.css"})
	}
	return st
}

// keptFamily puts a family of n parts in l and keeps its subtree on the
// parent, built under "site".
func keptFamily(l *L1[*item], n int) (family, *Subtree[*item]) {
	f := newFamily(l, newClock(), n)
	st := f.subtree("site")
	l.Keep(&f.parent.mark, st, []byte("<p>"))
	return f, st
}

// scope is what the tests build subtrees under (the composer's Site).
type scope struct{ name string }

// TestSubtreeServable: a subtree kept on its parent is served under its
// scope while every part is held and fresh; then, not, and it is taken
// off its parent, its bytes given back.
func TestSubtreeServable(t *testing.T) {
	site, other := &scope{"site"}, &scope{"other"}
	for _, tc := range []struct {
		name string
		// change changes what L1 holds after the subtree was kept, and
		// returns the scope and time it is asked for under then.
		change    func(l *L1[*item], c *clock, f family) (any, time.Time)
		servable  bool
		keptAfter bool
	}{
		{"unchanged", func(*L1[*item], *clock, family) (any, time.Time) { return site, time.Now() }, true, true},
		{"another entry gone", func(l *L1[*item], c *clock, _ family) (any, time.Time) {
			l.Set(c.item("unrelated"))
			l.Purge("unrelated")
			return site, time.Now()
		}, true, true},
		{"a part replaced", func(l *L1[*item], c *clock, f family) (any, time.Time) {
			l.Set(c.item(f.parts[1].key))
			return site, time.Now()
		}, false, false},
		{"a part purged", func(l *L1[*item], _ *clock, f family) (any, time.Time) {
			l.Purge(f.parts[2].key)
			return site, time.Now()
		}, false, false},
		{"a part stale", func(_ *L1[*item], _ *clock, f family) (any, time.Time) {
			return site, f.parts[0].fresh.Add(time.Minute)
		}, false, false},
		{"another scope", func(*L1[*item], *clock, family) (any, time.Time) { return other, time.Now() }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newL1(t, 0, 0)
			c := newClock()
			f := newFamily(l, c, 3)
			st := f.subtree(site)
			l.Keep(&f.parent.mark, st, []byte("<p>1</p><p>2</p><p>3</p>"))
			if got := l.Stitched(&f.parent.mark, site, time.Now()); got != st {
				t.Fatal("the subtree kept is not served")
			}
			if l.StitchedBytes() != st.Size || st.Size == 0 {
				t.Fatalf("%d stitched bytes, the subtree's size %d", l.StitchedBytes(), st.Size)
			}
			sc, now := tc.change(l, c, f)
			if got := l.Stitched(&f.parent.mark, sc, now); (got != nil) != tc.servable {
				t.Fatalf("served %v, want %v", got != nil, tc.servable)
			}
			if kept := f.parent.mark.Kept() != nil; kept != tc.keptAfter {
				t.Fatalf("kept %v, want %v", kept, tc.keptAfter)
			}
			if !tc.keptAfter && l.StitchedBytes() != 0 {
				t.Fatalf("%d stitched bytes once the subtree was dropped", l.StitchedBytes())
			}
		})
	}
}

// TestServableChecksPartsOnlyAfterDeletions: while L1 counted no deletion
// since a subtree's parts were last checked, none is checked again (a
// part marked gone without a deletion counted would go unseen: L1 never
// does that).
func TestServableChecksPartsOnlyAfterDeletions(t *testing.T) {
	l := newL1(t, 0, 0)
	f, st := keptFamily(l, 2)
	now := time.Now()
	if !st.Servable(l, "site", now) {
		t.Fatal("not servable")
	}
	f.parts[0].mark.gone.Store(true)
	if !st.Servable(l, "site", now) {
		t.Fatal("parts checked again with no deletion counted")
	}
	l.deletions.Add(1)
	if st.Servable(l, "site", now) {
		t.Fatal("a gone part unseen after a deletion")
	}
}

// TestSubtreeCounts: a subtree counts its parts, nested ones included,
// per fragment in order of first appearance, its assets once each, its
// height and its earliest freshness.
func TestSubtreeCounts(t *testing.T) {
	c := newClock()
	a, b, d := c.item("a"), c.item("b"), c.item("d")
	b.fresh = b.fresh.Add(-time.Minute)
	inner := NewSubtree[*item]("s", a.fresh)
	inner.Height = 2
	inner.Add(b, "score", b.fresh, []string{"/s.css", "/b.css"})
	outer := NewSubtree[*item]("s", a.fresh)
	outer.Height = 1
	outer.Add(a, "board", a.fresh, []string{"/b.css"})
	outer.Nest(inner, 1)
	outer.Add(d, "score", d.fresh, nil)
	if outer.Includes != 3 || len(outer.Parts) != 3 || outer.Parts[0] != a || outer.Parts[1] != b || outer.Parts[2] != d {
		t.Fatalf("%d includes, parts %v", outer.Includes, outer.Parts)
	}
	want := []Count{{"board", 1}, {"score", 2}}
	if len(outer.Counts) != 2 || outer.Counts[0] != want[0] || outer.Counts[1] != want[1] {
		t.Fatalf("counts %v, want %v", outer.Counts, want)
	}
	if got := strings.Join(outer.Assets, " "); got != "/b.css /s.css" {
		t.Fatalf("assets %q", got)
	}
	if outer.Height != 3 || !outer.Fresh.Equal(b.fresh) {
		t.Fatalf("height %d, fresh %v, want 3, %v", outer.Height, outer.Fresh, b.fresh)
	}
}

// TestStitchedBytesBudget: a subtree past the stitched bytes is not kept;
// one kept is counted, with the compressed forms made of it, and counted
// out when its parent leaves L1.
func TestStitchedBytesBudget(t *testing.T) {
	l := newL1(t, 0, 4096)
	c := newClock()
	f := newFamily(l, c, 2)
	big := f.subtree("site")
	l.Keep(&f.parent.mark, big, []byte(strings.Repeat("x", 8192)))
	if f.parent.mark.Kept() != nil || l.StitchedBytes() != 0 {
		t.Fatalf("a subtree over the budget: kept %v, %d bytes", f.parent.mark.Kept() != nil, l.StitchedBytes())
	}
	st := f.subtree("site")
	l.Keep(&f.parent.mark, st, []byte(strings.Repeat("<p>score</p>", 100)))
	if f.parent.mark.Kept() != st || l.StitchedBytes() != st.Size {
		t.Fatalf("kept %v, %d bytes, its size %d", f.parent.mark.Kept() == st, l.StitchedBytes(), st.Size)
	}
	_, w := compress.Wrap(httptest.NewRecorder(), compress.Gzip)
	w.WritePiece(st.Piece)
	w.Close()
	if st.Piece.Made(compress.Gzip) != 1 || l.StitchedBytes() <= st.Size {
		t.Fatalf("gzip made %d times, %d bytes counted, the subtree's own %d", st.Piece.Made(compress.Gzip), l.StitchedBytes(), st.Size)
	}
	l.Purge("parent")
	if f.parent.mark.Kept() != nil || l.StitchedBytes() != 0 {
		t.Fatalf("parent gone: kept %v, %d bytes", f.parent.mark.Kept() != nil, l.StitchedBytes())
	}
	if l.Reserve(4097) || !l.Reserve(4096) || l.Reserve(1) {
		t.Fatal("Reserve does not keep to the budget")
	}
}

// TestKeepRacesGone: a subtree kept while its parent leaves L1 is never
// left on the gone parent, nor counted once the parent is gone (run with
// -race).
func TestKeepRacesGone(t *testing.T) {
	l := newL1(t, 0, 0)
	c := newClock()
	for i := range 2000 {
		f := newFamily(l, c, 1)
		st := f.subtree("site")
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			l.Keep(&f.parent.mark, st, []byte("<p>"))
		})
		wg.Go(func() {
			<-start
			l.Purge("parent")
		})
		close(start)
		wg.Wait()
		if !f.parent.mark.Gone() {
			t.Fatalf("round %d: the parent is not gone", i)
		}
		if f.parent.mark.Kept() != nil || l.StitchedBytes() != 0 {
			t.Fatalf("round %d: a subtree kept on a gone parent (%d bytes)", i, l.StitchedBytes())
		}
	}
}

// TestClaim: one builder at a time, and none on a gone entry or one that
// keeps a subtree.
func TestClaim(t *testing.T) {
	l := newL1(t, 0, 0)
	f := newFamily(l, newClock(), 1)
	m := &f.parent.mark
	if !m.Claim() || m.Claim() {
		t.Fatal("a second claim while the first holds")
	}
	l.Keep(m, f.subtree("site"), []byte("<p>"))
	m.Release()
	if m.Claim() {
		t.Fatal("claimed an entry that keeps a subtree")
	}
	l.Purge("parent")
	if m.Claim() {
		t.Fatal("claimed a gone entry")
	}
}

// TestMarkIsSmall: a mark, carried by every entry, is two words.
func TestMarkIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(Mark[*item]{}); n != 16 {
		t.Fatalf("a mark of %d bytes", n)
	}
}
