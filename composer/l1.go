package composer

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// l1 is the in-process cache tier: entries by canonical key, bounded by
// bytes, each removed once past its StaleUntil. It is otter's W-TinyLFU,
// which keeps a hot set of fragments resident under scans of cold ones (a
// 10,000-include page must not flush the front page's stories).
type l1 struct {
	c     *otter.Cache[string, *Entry]
	clock *otter.CoarseClock
	// stitchMax bounds the bytes of the stitched subtrees kept on entries
	// (see stitch.go), stitchBytes counts them; 0 keeps none.
	stitchMax   int64
	stitchBytes atomic.Int64
	// deletions counts the entries L1 stopped holding (see stitchedFor).
	deletions atomic.Uint64
}

// newL1 returns an in-process tier of maxBytes (0: 64 MiB), keeping
// stitched subtrees of up to stitchBytes beside it (0: a quarter of
// maxBytes; negative: none).
func newL1(maxBytes, stitchBytes int64) *l1 {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	if stitchBytes == 0 {
		stitchBytes = maxBytes / 4
	}
	l := &l1{stitchMax: max(stitchBytes, 0)}
	// The cache reads its clock on every lookup, only to expire entries;
	// freshness is judged by the composer against the entry's own times.
	// A clock read once a millisecond makes a lookup a third cheaper.
	clock := otter.NewCoarseClock(time.Millisecond)
	l.clock = clock
	l.c = otter.Must(&otter.Options[string, *Entry]{
		Clock:         clock,
		MaximumWeight: uint64(maxBytes),
		Weigher: func(_ string, e *Entry) uint32 {
			return uint32(min(e.Size(), 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *Entry]) time.Duration {
			return max(time.Until(e.Value.StaleUntil), time.Millisecond)
		}),
		// Under the key's bucket lock, before a replacement is visible:
		// a stitched subtree holding e is never served once a look-up
		// of e's key could find something else.
		OnAtomicDeletion: func(ev otter.DeletionEvent[string, *Entry]) { l.gone(ev.Value) },
	})
	return l
}

// get returns the entry for key if present and rendered with version.
func (l *l1) get(key, version string) *Entry {
	e, ok := l.c.GetIfPresent(key)
	if !ok || e.Version != version {
		return nil
	}
	return e
}

// set puts e in L1, in place of any entry of its key.
func (l *l1) set(e *Entry) { l.put(e, false) }

// setUnlessNewer puts e in L1 unless L1 holds an entry of its key and
// version rendered after it. The L1 writer inserts results a moment after
// their calls end: meanwhile an event's refresh may have put a newer entry
// there (see Refresh), which an older result must not replace.
func (l *l1) setUnlessNewer(e *Entry) { l.put(e, true) }

func (l *l1) put(e *Entry, unlessNewer bool) {
	refused := false
	l.c.Compute(e.Key, func(old *Entry, found bool) (*Entry, otter.ComputeOp) {
		switch {
		case !found:
		case old == e: // already there: replacing it would mark it gone
			return old, otter.CancelOp
		case unlessNewer && old.Version == e.Version && old.Created.After(e.Created):
			refused = true
			return old, otter.CancelOp
		}
		return e, otter.WriteOp
	})
	if refused {
		// L1 will never hold e, though a request may have served it
		// (taken from its call's flight): it must not stay in a stitched
		// subtree as if L1 held it.
		l.gone(e)
	}
}

// gone marks e as no longer (or never) held by L1; see stitchedFor.
func (l *l1) gone(e *Entry) {
	e.gone.Store(true)
	l.deletions.Add(1)
	if st := e.stitched.Swap(nil); st != nil {
		l.unkeep(st)
	}
}

// purge drops every entry of the named fragment.
func (l *l1) purge(fragment string) int {
	n := 0
	prefix := fragment + "?"
	for k := range l.c.Keys() {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			l.c.Invalidate(k)
			n++
		}
	}
	return n
}

func (l *l1) close() {
	l.c.StopAllGoroutines()
	l.clock.Stop()
}

// l1Writer inserts fresh entries into L1 from a single goroutine. Thousands
// of fragment calls finishing in the same millisecond would otherwise all
// contend for the cache's write buffer and eviction lock at once, which on
// two cores showed as multi-millisecond stalls of a cold page. Until its
// entry is in L1, a flight stays parked in its group, so lookups in between
// still find the result and start no second call.
type l1Writer struct {
	l1   *l1
	q    chan parked
	done chan struct{}
	wg   sync.WaitGroup
}

type parked struct {
	e  *Entry
	fl *flight
}

func newL1Writer(l *l1) *l1Writer {
	w := &l1Writer{l1: l, q: make(chan parked, 8192), done: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *l1Writer) add(e *Entry, fl *flight) {
	select {
	case w.q <- parked{e, fl}:
	default: // full: insert here rather than wait
		w.put(parked{e, fl})
	}
}

func (w *l1Writer) put(p parked) {
	w.l1.setUnlessNewer(p.e)
	if p.fl != nil {
		p.fl.Forget()
	}
}

func (w *l1Writer) loop() {
	defer w.wg.Done()
	for {
		select {
		case p := <-w.q:
			w.put(p)
		case <-w.done:
			for {
				select {
				case p := <-w.q:
					w.put(p)
				default:
					return
				}
			}
		}
	}
}

func (w *l1Writer) close() {
	close(w.done)
	w.wg.Wait()
}
