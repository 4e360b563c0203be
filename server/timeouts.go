package server

import (
	"net/http"
	"time"
)

// A connection's time is bounded at each step, so that a client cannot
// hold one (and its goroutine and buffers) by being slow:
//
//   - readHeaderTimeout: from the first byte of a request to the end of
//     its head (a client sending its head a byte at a time is cut off);
//   - idleTimeout: a kept-alive connection waiting for its next request;
//   - writeTimeout: each write of the answer (below).
//
// With -max-conns-per-ip they bound what one client can hold: that many
// connections, each for one of these at a time.
const (
	readHeaderTimeout = 3 * time.Second
	idleTimeout       = 30 * time.Second
)

// writeTimeout bounds each write of a response: a client that stops
// reading fills the connection's buffers, the next write waits, and after
// writeTimeout it fails, the page's handler returns and the connection is
// closed. The page streams, so a deadline for the whole response
// (http.Server.WriteTimeout) would cut long pages; this one only cuts
// clients that stop reading.
const writeTimeout = 10 * time.Second

// deadlineRefresh is how stale a write deadline may get before a write
// moves it: setting it is a timer update, not free on a page's thousands
// of writes.
const deadlineRefresh = time.Second

// writeDeadlines gives every write and flush of h's responses a deadline
// of d (give or take deadlineRefresh), through http.ResponseController.
func writeDeadlines(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		dw.refresh()
		h.ServeHTTP(dw, r)
	})
}

// deadlineWriter moves the connection's write deadline before each write
// and flush. It keeps http.Flusher and unwraps, for ResponseController.
type deadlineWriter struct {
	http.ResponseWriter
	rc  *http.ResponseController
	d   time.Duration
	set time.Time // when the deadline was last moved
}

func (w *deadlineWriter) refresh() {
	if now := time.Now(); now.Sub(w.set) >= deadlineRefresh {
		w.set = now
		_ = w.rc.SetWriteDeadline(now.Add(w.d))
	}
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.refresh()
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() { _ = w.FlushError() }

func (w *deadlineWriter) FlushError() error {
	w.refresh()
	return w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
