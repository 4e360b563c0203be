package tier

import (
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// item is an entry of the tests: a key, a version, its times and a
// weight of its own.
type item struct {
	key, version string
	created      time.Time
	fresh, stale time.Time
	size         int
	mark         Mark[*item]
}

func options(maxBytes, stitchBytes int64) Options[*item] {
	return Options[*item]{
		MaxBytes:    maxBytes,
		StitchBytes: stitchBytes,
		Key:         func(e *item) string { return e.key },
		Version:     func(e *item) string { return e.version },
		Created:     func(e *item) time.Time { return e.created },
		StaleUntil:  func(e *item) time.Time { return e.stale },
		Size:        func(e *item) int { return e.size },
		Mark:        func(e *item) *Mark[*item] { return &e.mark },
	}
}

// newL1 returns an L1 of maxBytes and stitchBytes, closed when t ends.
func newL1(t testing.TB, maxBytes, stitchBytes int64) *L1[*item] {
	l := New(options(maxBytes, stitchBytes))
	t.Cleanup(l.Close)
	return l
}

// clock hands out creation times, one apart, so that a later item is
// always the newer one.
type clock struct{ t time.Time }

func (c *clock) item(key string) *item {
	c.t = c.t.Add(time.Millisecond)
	return &item{key: key, version: "1", created: c.t, fresh: c.t.Add(time.Hour), stale: c.t.Add(time.Hour), size: 100}
}

func newClock() *clock { return &clock{t: time.Now()} }

// TestGoneWhenNoLongerHeld: whichever way L1 stops holding an entry, or
// refuses one, the entry is marked gone and a deletion is counted; the
// entry L1 holds is never marked gone.
func TestGoneWhenNoLongerHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		// drop makes l stop holding old (or refuse it) and returns
		// what l holds for its key then (nil: nothing).
		drop func(l *L1[*item], c *clock, old *item) *item
	}{
		{"replaced", func(l *L1[*item], c *clock, old *item) *item {
			e := c.item(old.key)
			l.Set(e)
			return e
		}},
		{"replaced by its writer", func(l *L1[*item], c *clock, old *item) *item {
			e := c.item(old.key)
			l.SetUnlessNewer(e)
			return e
		}},
		{"purged", func(l *L1[*item], _ *clock, _ *item) *item {
			l.Purge("k")
			return nil
		}},
		{"invalidated", func(l *L1[*item], _ *clock, old *item) *item {
			l.Cache().Invalidate(old.key)
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newL1(t, 0, 0)
			c := newClock()
			old := c.item("k")
			l.Set(old)
			l.Set(old) // the same entry again: nothing changes
			if old.mark.Gone() {
				t.Fatal("setting the entry L1 holds marked it gone")
			}
			d := l.deletions.Load()
			held := tc.drop(l, c, old)
			if !old.mark.Gone() || l.deletions.Load() == d {
				t.Fatalf("gone %v, deletions %d → %d", old.mark.Gone(), d, l.deletions.Load())
			}
			got, ok := l.Cache().GetIfPresent("k")
			if held == nil && ok || held != nil && got != held {
				t.Fatalf("L1 holds %+v, want %+v", got, held)
			}
			if held != nil && held.mark.Gone() {
				t.Fatal("the entry L1 holds is marked gone")
			}
		})
	}
}

// TestRefusedEntryIsGone: an entry L1 refuses (a newer one of its key is
// there) counts as gone, like one L1 dropped: a request may have served it
// from its call's flight, and a subtree holding it must not be served
// while L1 holds the newer one.
func TestRefusedEntryIsGone(t *testing.T) {
	l := newL1(t, 0, 0)
	c := newClock()
	older, newer := c.item("k"), c.item("k")
	l.Set(newer)
	d := l.deletions.Load()
	l.SetUnlessNewer(older)
	if got, _ := l.Cache().GetIfPresent("k"); got != newer {
		t.Fatal("an older entry replaced a newer one")
	}
	if !older.mark.Gone() || l.deletions.Load() == d {
		t.Fatalf("the refused entry: gone %v, deletions %d → %d", older.mark.Gone(), d, l.deletions.Load())
	}
	if newer.mark.Gone() {
		t.Fatal("the entry L1 holds is marked gone")
	}
}

// TestGoneWhenEvicted: every entry L1 evicted to stay within its bytes is
// gone; every one it holds is not.
func TestGoneWhenEvicted(t *testing.T) {
	l := newL1(t, 1000, 0)
	c := newClock()
	var all []*item
	for i := range 50 {
		e := c.item("k" + strconv.Itoa(i))
		all = append(all, e)
		l.Set(e)
	}
	l.Cache().CleanUp()
	held := 0
	for _, e := range all {
		if _, ok := l.Cache().GetIfPresent(e.key); ok == e.mark.Gone() {
			t.Fatalf("%s: held %v, gone %v", e.key, ok, e.mark.Gone())
		} else if ok {
			held++
		}
	}
	if held == 0 || held == len(all) {
		t.Fatalf("%d of %d held", held, len(all))
	}
}

// TestGoneWhenExpired: an entry past its StaleUntil leaves L1 gone.
func TestGoneWhenExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(options(0, 0))
		defer l.Close()
		c := newClock()
		e := c.item("k")
		e.stale = time.Now().Add(time.Second)
		l.Set(e)
		time.Sleep(2 * time.Second)
		if _, ok := l.Cache().GetIfPresent("k"); ok {
			t.Fatal("an entry past its StaleUntil was found")
		}
		l.Cache().CleanUp()
		if !e.mark.Gone() {
			t.Fatal("an expired entry is not gone")
		}
	})
}

// TestGoneBeforeReplacementVisible: a look-up that finds an entry's
// replacement finds the entry it replaced gone (run with -race). This is
// what lets a subtree check its parts by their marks.
func TestGoneBeforeReplacementVisible(t *testing.T) {
	l := newL1(t, 0, 0)
	c := newClock()
	const n = 2000
	items := make([]*item, n)
	for i := range items {
		items[i] = c.item("k")
		items[i].version = strconv.Itoa(i) // a look-up names the one it finds
	}
	l.Set(items[0])
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, e := range items[1:] {
			l.Set(e)
		}
	})
	wg.Go(func() {
		for seen := 0; seen < n-1; {
			e, ok := l.Cache().GetIfPresent("k")
			if !ok {
				t.Error("nothing held")
				return
			}
			i, _ := strconv.Atoi(e.version)
			for j := seen; j < i; j++ {
				if !items[j].mark.Gone() {
					t.Errorf("entry %d found while entry %d it replaced is not gone", i, j)
					return
				}
			}
			seen = max(seen, i)
		}
	})
	wg.Wait()
}

// TestPurgeByPrefix: a purge drops the keys of its prefix only.
func TestPurgeByPrefix(t *testing.T) {
	l := newL1(t, 0, 0)
	c := newClock()
	keep := c.item("scoreboard?n=1")
	for _, e := range []*item{c.item("score?m=1"), c.item("score?m=2"), keep} {
		l.Set(e)
	}
	if n := l.Purge("score?"); n != 2 {
		t.Fatalf("purged %d, want 2", n)
	}
	if _, ok := l.Cache().GetIfPresent(keep.key); !ok || keep.mark.Gone() {
		t.Fatal("a key of another prefix was purged")
	}
}
