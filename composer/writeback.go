package composer

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// writeBack sends fresh entries to the shared tier off the response path.
// Entries that arrive together (the includes of one page level finish within
// a few milliseconds of each other) go out as one SetMulti, i.e. one
// pipeline. The queue is bounded: when the Store cannot keep up, entries are
// dropped and counted rather than delaying a page or growing without bound.
type writeBack struct {
	store   Store
	log     *slog.Logger
	queue   chan *Entry
	done    chan struct{}
	wg      sync.WaitGroup
	Dropped atomic.Int64
	Batches atomic.Int64
	Errors  atomic.Int64
}

const (
	writeBackQueue  = 16384
	writeBackBatch  = 4096
	writeBackWindow = 2 * time.Millisecond
	// writeBackTimeout bounds one write-back. It is off the response path,
	// and other instances may be waiting for these entries (they hold no
	// lock): generous rather than short. Entries whose calls held their
	// key's lock get until the lock lapses, if that is later: the other
	// instances wait for them that long, and call the fragment again
	// after.
	writeBackTimeout = time.Second
	// writeBackRetry is the pause before a write-back that timed out is
	// tried again.
	writeBackRetry = 10 * time.Millisecond
)

func newWriteBack(s Store, log *slog.Logger) *writeBack {
	w := &writeBack{store: s, log: log, queue: make(chan *Entry, writeBackQueue), done: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

// add queues e without blocking.
func (w *writeBack) add(e *Entry) {
	select {
	case w.queue <- e:
	default:
		w.Dropped.Add(1)
	}
}

func (w *writeBack) loop() {
	defer w.wg.Done()
	batch := make([]*Entry, 0, 256)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case e := <-w.queue:
			batch = append(batch[:0], e)
		case <-w.done:
			w.drain(batch[:0])
			return
		}
		timer.Reset(writeBackWindow)
	collect:
		for len(batch) < writeBackBatch {
			select {
			case e := <-w.queue:
				batch = append(batch, e)
			case <-timer.C:
				break collect
			case <-w.done:
				break collect
			}
		}
		timer.Stop()
		w.flush(batch)
	}
}

func (w *writeBack) drain(batch []*Entry) {
	for {
		select {
		case e := <-w.queue:
			batch = append(batch, e)
		default:
			if len(batch) > 0 {
				w.flush(batch)
			}
			return
		}
	}
}

// retryTimeouts calls op until it succeeds, fails other than by a timeout,
// or ctx ends, writeBackRetry apart. A timeout is the Store's own short
// bound, not ctx's: it is slow (or this process starved), not down.
func retryTimeouts(ctx context.Context, op func() error) error {
	err := op()
	for err != nil && IsTimeout(err) && ctx.Err() == nil {
		time.Sleep(writeBackRetry)
		err = op()
	}
	return err
}

func (w *writeBack) flush(batch []*Entry) {
	ctx, cancel := context.WithDeadline(context.Background(), writeBackDeadline(batch, time.Now()))
	defer cancel()
	w.Batches.Add(1)
	// Other instances may be waiting for these entries until this
	// instance's locks expire: retried until then.
	err := retryTimeouts(ctx, func() error { return w.store.SetMulti(ctx, batch) })
	if err != nil {
		w.Errors.Add(1)
		w.log.Debug("composer: write-back failed", "entries", len(batch), "err", err)
	}
	clear(batch)
}

// writeBackDeadline is when a write-back of batch starting at now gives
// up: after writeBackTimeout, or once the last of the locks its entries'
// calls held lapses, whichever is later.
func writeBackDeadline(batch []*Entry, now time.Time) time.Time {
	d := now.Add(writeBackTimeout).UnixNano()
	for _, e := range batch {
		d = max(d, e.lockedUntil)
	}
	return time.Unix(0, d)
}

// write sends batch in one SetMulti, on a goroutine of its own.
func (w *writeBack) write(batch []*Entry) {
	select {
	case <-w.done:
		return
	default:
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.flush(batch)
	}()
}

// close flushes what is queued, each batch bounded as flush bounds it.
func (w *writeBack) close() {
	close(w.done)
	w.wg.Wait()
}

// level collects the fresh results of the calls one page level made, so
// that they go to the Store in one pipeline when those calls have settled.
// Only calls this instance makes count: includes waiting for another
// request's call, or for another instance's (which holds the key's lock),
// do not hold the level back — two instances each holding part of the
// other's level would otherwise wait for each other until their timeouts.
type level struct {
	c       *Composer
	pending atomic.Int32
	mu      sync.Mutex
	fresh   []*Entry
	flushed atomic.Bool
}

func (r *request) newLevel(n int) *level {
	if r.c.wb == nil || n == 0 {
		return nil
	}
	l := &level{c: r.c}
	l.pending.Store(int32(n))
	r.mu.Lock()
	r.levels = append(r.levels, l)
	r.mu.Unlock()
	return l
}

// settle records that one of the level's includes has settled, with e when
// it was rendered for this level (and nobody else has written it).
func (l *level) settle(e *Entry) {
	if e != nil && e.written.CompareAndSwap(false, true) {
		l.mu.Lock()
		if l.flushed.Load() {
			// The level was flushed already (its request ended first):
			// e goes on its own.
			l.mu.Unlock()
			l.c.wb.add(e)
		} else {
			l.fresh = append(l.fresh, e)
			l.mu.Unlock()
		}
	}
	if l.pending.Add(-1) == 0 {
		l.flush()
	}
}

func (l *level) flush() {
	l.mu.Lock()
	if !l.flushed.CompareAndSwap(false, true) {
		l.mu.Unlock()
		return
	}
	batch := l.fresh
	l.fresh = nil
	l.mu.Unlock()
	if len(batch) > 0 {
		l.c.wb.write(batch)
	}
}

// writeLater queues an entry no page level will write: a background
// refresh, or a call that finished after every include waiting for it had
// given up.
func (c *Composer) writeLater(e *Entry) {
	if c.wb != nil && e.written.CompareAndSwap(false, true) {
		c.wb.add(e)
	}
}
