package remote

// The server side of the batch protocol (batch.go): fragmentd's handler of
// POST /fragments/_batch.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// batch serves POST /fragments/_batch.
func (s *server) batch(w http.ResponseWriter, r *http.Request) {
	items, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	ready := s.runItems(r.Context(), items)
	h := w.Header()
	h["Content-Type"] = hdrBatch
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNosniff
	w.WriteHeader(http.StatusOK)
	s.writeFrames(w, ready, len(items))
}

// batchText answers a batch request that cannot be served with code and
// msg, as text.
func batchText(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h["Content-Type"] = hdrText
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNosniff
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// readBatch reads and parses r's batch, bounded in bytes and items; when
// it cannot, it answers r (413 or 400) and reports false.
func (s *server) readBatch(w http.ResponseWriter, r *http.Request) ([]batchItem, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.o.MaxBatchBytes)))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			batchText(w, http.StatusRequestEntityTooLarge, "batch body too large")
		} else {
			batchText(w, http.StatusBadRequest, "batch body unreadable")
		}
		return nil, false
	}
	items, err := parseBatchRequest(body, s.o.MaxBatchItems)
	switch {
	case errors.Is(err, errTooManyItems):
		batchText(w, http.StatusRequestEntityTooLarge, "too many items")
		return nil, false
	case err != nil:
		batchText(w, http.StatusBadRequest, "bad batch: "+err.Error())
		return nil, false
	}
	return items, true
}

// itemDone is a batch item's outcome: its index, what it rendered and how
// long it took.
type itemDone struct {
	i int
	o outcome
	d time.Duration
}

// runItems renders every item in its own goroutine under ctx and returns
// the channel their outcomes arrive on, in the order they finish; it has
// room for all of them, so that no runner ever blocks.
func (s *server) runItems(ctx context.Context, items []batchItem) <-chan itemDone {
	ready := make(chan itemDone, len(items))
	for i, it := range items {
		go func() {
			t0 := time.Now()
			o := outcome{name: it.name, status: http.StatusInternalServerError, msg: "fragment failed"}
			defer func() {
				// Not the handler's goroutine: net/http would not recover
				// a panic here (render recovers the fragment's own).
				if v := recover(); v != nil {
					s.o.Logger.Error("fragmentd: batch item panicked", "fragment", it.name, "panic", fmt.Sprint(v))
				}
				ready <- itemDone{i, o, time.Since(t0)}
			}()
			o = s.run(ctx, it.name, it.u)
		}()
	}
	return ready
}

// writeFrames writes the n outcomes from ready as frames as they come,
// whatever is ready at once in one write and flush; after a write error it
// only releases them.
func (s *server) writeFrames(w http.ResponseWriter, ready <-chan itemDone, n int) {
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 32<<10)
	var werr error
	write := func(d itemDone) {
		if werr == nil {
			werr = writeFrame(bw, d.i, &d.o)
		}
		d.o.release()
		if s.o.Observe != nil {
			s.o.Observe(d.o.name, d.o.status, d.d)
		}
	}
	for k := 0; k < n; {
		write(<-ready)
		k++
		// Whatever else is ready goes in the same write.
		for more := true; more && k < n; {
			select {
			case d := <-ready:
				write(d)
				k++
			default:
				more = false
			}
		}
		if werr == nil {
			if werr = bw.Flush(); werr == nil {
				werr = rc.Flush()
			}
		}
	}
}
