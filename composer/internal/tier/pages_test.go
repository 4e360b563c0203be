package tier

import (
	"strings"
	"testing"
	"time"
)

// TestPages: a page is kept within the stitched bytes, counting its key
// and the store's overhead; it is servable while every part is held; a
// sweep drops it once a part has gone, and its bytes go with it.
func TestPages(t *testing.T) {
	l := newL1(t, 0, 0)
	ps := NewPages(l)
	defer ps.Close()
	c := newClock()
	f := newFamily(l, c, 3)
	st := f.subtree("site")
	ps.Keep("/scores", &Page[*item]{Subtree: st, Preload: []string{"</s.css>; rel=preload"}}, []byte("<html>…</html>"))
	p := ps.Get("/scores")
	if p == nil || p.Subtree != st || !st.Servable(l, "site", time.Now()) {
		t.Fatal("the page kept is not found servable")
	}
	if want := int64(st.bytes() + StrSize("/scores") + Overhead); st.Size != want || l.StitchedBytes() != want {
		t.Fatalf("size %d, stitched bytes %d, want %d", st.Size, l.StitchedBytes(), want)
	}
	ps.Sweep()
	if ps.Get("/scores") == nil {
		t.Fatal("a sweep dropped a page whose parts are all held")
	}
	l.Purge(f.parts[1].key)
	if st.Servable(l, "site", time.Now()) {
		t.Fatal("a page with a part gone is servable")
	}
	ps.Sweep()
	if ps.Get("/scores") != nil || l.StitchedBytes() != 0 {
		t.Fatalf("after the sweep: kept %v, %d bytes", ps.Get("/scores") != nil, l.StitchedBytes())
	}
}

// TestPagesBudget: a page past the stitched bytes is not kept; a page
// replaced or dropped is counted out.
func TestPagesBudget(t *testing.T) {
	l := newL1(t, 0, 4096)
	ps := NewPages(l)
	defer ps.Close()
	f := newFamily(l, newClock(), 1)
	ps.Keep("big", &Page[*item]{Subtree: f.subtree("site")}, []byte(strings.Repeat("x", 8192)))
	if ps.Get("big") != nil || l.StitchedBytes() != 0 {
		t.Fatalf("a page over the budget: kept %v, %d bytes", ps.Get("big") != nil, l.StitchedBytes())
	}
	first, second := f.subtree("site"), f.subtree("site")
	ps.Keep("p", &Page[*item]{Subtree: first}, []byte("<p>1</p>"))
	ps.Keep("p", &Page[*item]{Subtree: second}, []byte("<p>2</p>"))
	if ps.Get("p").Subtree != second || l.StitchedBytes() != second.Size {
		t.Fatalf("%d bytes counted, the page kept %d", l.StitchedBytes(), second.Size)
	}
	ps.Drop("p")
	if l.StitchedBytes() != 0 {
		t.Fatalf("%d bytes counted once the page was dropped", l.StitchedBytes())
	}
}

// TestPagesClaim: one builder of a page at a time.
func TestPagesClaim(t *testing.T) {
	ps := NewPages(newL1(t, 0, 0))
	defer ps.Close()
	if !ps.Claim("p") || ps.Claim("p") || !ps.Claim("q") {
		t.Fatal("claims of one key do not exclude each other, or exclude another key")
	}
	ps.Release("p")
	if !ps.Claim("p") {
		t.Fatal("a released key cannot be claimed")
	}
}

// TestNoPagesWithoutStitchedBytes: an L1 keeping no stitched bytes has no
// page store, and a nil store sweeps and closes.
func TestNoPagesWithoutStitchedBytes(t *testing.T) {
	ps := NewPages(newL1(t, 0, -1))
	if ps != nil {
		t.Fatal("a page store without stitched bytes")
	}
	ps.Sweep()
	ps.Close()
}
