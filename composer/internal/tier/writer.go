package tier

import "sync"

// Writer inserts fresh entries into L1 from a single goroutine. Thousands
// of fragment calls finishing in the same millisecond would otherwise all
// contend for the cache's write buffer and eviction lock at once, which on
// two cores showed as multi-millisecond stalls of a cold page. Until its
// entry is in L1, the call's flight stays parked in its group, so that
// look-ups in between still find the result and start no second call; the
// writer forgets it once the entry is in.
type Writer[E comparable] struct {
	l1   *L1[E]
	q    chan parked[E]
	done chan struct{}
	wg   sync.WaitGroup
}

// Forgetter is a parked flight: Forget takes it out of its group.
type Forgetter interface{ Forget() }

type parked[E comparable] struct {
	e  E
	fl Forgetter
}

// NewWriter starts a writer into l; Close stops it.
func NewWriter[E comparable](l *L1[E]) *Writer[E] {
	w := &Writer[E]{l1: l, q: make(chan parked[E], 8192), done: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

// Add has e put in L1 (unless L1 holds a newer entry of its key, see
// L1.SetUnlessNewer), then fl forgotten (nil: none). It never blocks: with
// the queue full, it puts e in on the caller's goroutine.
func (w *Writer[E]) Add(e E, fl Forgetter) {
	select {
	case w.q <- parked[E]{e, fl}:
	default:
		w.put(parked[E]{e, fl})
	}
}

func (w *Writer[E]) put(p parked[E]) {
	w.l1.SetUnlessNewer(p.e)
	if p.fl != nil {
		p.fl.Forget()
	}
}

func (w *Writer[E]) loop() {
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

// Close puts in what is queued and stops the writer. Add must not be
// called after Close.
func (w *Writer[E]) Close() {
	close(w.done)
	w.wg.Wait()
}
