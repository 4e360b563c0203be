package remote

import (
	"context"
	"net/http/httptrace"
	"sync"

	"github.com/broadsheet/broadsheet/composer"
)

// connWait stops the clock of the composer's call a request is made for
// (composer.Pause) while the request waits for a connection: from when it
// asks the transport for one (httptrace GetConn) to when its headers are
// on it (WroteHeaders). Setting up the HTTP/2 connection a page's requests
// to an h2c service all share, waiting for one of its streams (a server
// allows some hundred at a time, and a client assumes 100 until told), or
// for one of the host's connections to come free when it has fewer than
// requests in flight, is the composer's own queueing, not the fragment's
// time: that starts when the service has the request. A dial is bounded by
// Options.DialTimeout, a wait for a busy connection by the page's budget.
//
// Only requests that may share connections are traced: tracing every
// request cost a cold page of a thousand HTTP/1.1 requests, each with its
// own connection, 7 ms of its 83 (BenchmarkScores1000RemoteCold,
// alternated), and there the one wait is the request's own dial, which
// creditDial pauses.
type connWait struct {
	ctx    context.Context
	trace  httptrace.ClientTrace
	mu     sync.Mutex
	resume func()
}

// waitingForConn returns ctx with the tracing of w, for one request.
func waitingForConn(ctx context.Context) (context.Context, *connWait) {
	w := &connWait{ctx: ctx}
	w.trace.GetConn = w.getConn
	w.trace.WroteHeaders = w.end
	return httptrace.WithClientTrace(ctx, &w.trace), w
}

func (w *connWait) getConn(string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.resume == nil {
		w.resume = composer.Pause(w.ctx)
	}
}

// end starts the call's clock again, if the request stopped it; the
// transport does not call WroteHeaders for a request that never got a
// connection.
func (w *connWait) end() {
	if w == nil {
		return
	}
	w.mu.Lock()
	resume := w.resume
	w.resume = nil
	w.mu.Unlock()
	if resume != nil {
		resume()
	}
}
