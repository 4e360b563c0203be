package tier

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkGet is a look-up that finds its entry, and checks its version:
// a cold page of 2,000 includes makes 2,000 of them per level, a warm one
// as many per page when nothing is stitched. "otter" reads the cache
// itself, as the composer does; "method" goes through a generic method of
// L1 asking Options.Version, as the composer does not (see L1). Run with
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
	b.Run("otter", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if e, ok := l.Cache().GetIfPresent(keys[i%len(keys)]); !ok || e.version != "1" {
				b.Fatal("missing")
			}
		}
	})
	b.Run("method", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok := l.get(keys[i%len(keys)], "1"); !ok {
				b.Fatal("missing")
			}
		}
	})
}

// get is the look-up through a method that BenchmarkGet compares.
func (l *L1[E]) get(key, version string) (e E, ok bool) {
	e, ok = l.c.GetIfPresent(key)
	if !ok || l.o.Version(e) != version {
		var none E
		return none, false
	}
	return e, true
}

// BenchmarkServable is the check of a subtree of 2,000 parts: "quiet"
// when L1 counted no deletion since its last check (the rule on a warm
// site), "after deletions" when it did, and every part is looked at.
// "after deletions, through Options.Mark" asks for each part's mark as a
// subtree without its list of marks would (see Subtree).
func BenchmarkServable(b *testing.B) {
	l := newL1(b, 0, 0)
	_, st := keptFamily(l, 2000)
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
	b.Run("after deletions, through Options.Mark", func(b *testing.B) {
		for b.Loop() {
			l.deletions.Add(1)
			if !l.partsHeld(st) {
				b.Fatal("not servable")
			}
		}
	})
}

// partsHeld is the check of st's parts through Options.Mark, which
// BenchmarkServable compares.
func (l *L1[E]) partsHeld(st *Subtree[E]) bool {
	for _, p := range st.Parts {
		if l.o.Mark(p).gone.Load() {
			return false
		}
	}
	return true
}
