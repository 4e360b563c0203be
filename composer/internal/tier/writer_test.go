package tier

import (
	"strconv"
	"sync/atomic"
	"testing"
)

// forgetter records that it was forgotten, and whether L1 held its entry
// by then.
type forgetter struct {
	l         *L1[*item]
	e         *item
	forgotten atomic.Bool
	held      atomic.Bool
}

func (f *forgetter) Forget() {
	_, ok := f.l.Cache().GetIfPresent(f.e.key)
	f.held.Store(ok)
	f.forgotten.Store(true)
}

// TestWriter: every entry added is in L1 by the time its flight is
// forgotten, and Close puts in what is queued; more entries than the
// queue holds are put in all the same. An entry older than the one held
// is refused.
func TestWriter(t *testing.T) {
	l := newL1(t, 0, 0)
	w := NewWriter(l)
	c := newClock()
	older := c.item("k0")
	fs := make([]*forgetter, 10000)
	for i := range fs {
		fs[i] = &forgetter{l: l, e: c.item("k" + strconv.Itoa(i))}
		w.Add(fs[i].e, fs[i])
	}
	w.Add(older, nil)
	w.Close()
	for i, f := range fs {
		if !f.forgotten.Load() || !f.held.Load() {
			t.Fatalf("entry %d: forgotten %v, in L1 by then %v", i, f.forgotten.Load(), f.held.Load())
		}
	}
	if got, _ := l.Cache().GetIfPresent("k0"); got != fs[0].e || !older.mark.Gone() {
		t.Fatal("an older entry replaced a newer one")
	}
}
