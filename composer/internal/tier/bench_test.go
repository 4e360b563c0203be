package tier

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkGet is a look-up that finds its entry: a cold page of 2,000
// includes makes 2,000 of them per level, a warm one as many per page
// when nothing is stitched. Run with
//
//	go test -run '^$' -bench . -benchmem ./composer/internal/tier/
func BenchmarkGet(b *testing.B) {
	l := newL1(b, 0, 0)
	c := newClock()
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = "score?match=" + strconv.Itoa(i)
		l.Set(c.item(keys[i]))
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := l.Get(keys[i%len(keys)], "1"); !ok {
			b.Fatal("missing")
		}
	}
}

// BenchmarkServable is the check of a subtree of 2,000 parts: "quiet"
// when L1 counted no deletion since its last check (the rule on a warm
// site), "after deletions" when it did, and every part is looked at.
func BenchmarkServable(b *testing.B) {
	l := newL1(b, 0, 0)
	c := newClock()
	f := newFamily(l, c, 2000)
	st := f.subtree("site")
	l.Keep(&f.parent.mark, st, []byte("<p>"))
	now := time.Now()
	b.Run("quiet", func(b *testing.B) {
		for b.Loop() {
			if !st.Servable(l, "site", now) {
				b.Fatal("not servable")
			}
		}
	})
	b.Run("after deletions", func(b *testing.B) {
		for b.Loop() {
			l.deletions.Add(1)
			if !st.Servable(l, "site", now) {
				b.Fatal("not servable")
			}
		}
	})
}
