package server

import (
	"cmp"
	"container/list"
	"context"
	"net"
	"net/http"
	"time"
)

// Which connection gives its slot to a new one at the bound (see
// connLimit): connections are parked, longest waiting first, while no
// request of theirs is in a handler.

// evict closes a connection without a request in its handler — a fresh
// one chosen by victim, else the one idle longest — if there is one,
// giving its slot back (or moves it to the tarpit, see connLimit).
func (lim *connLimit) evict() bool {
	lim.mu.Lock()
	e := lim.victim()
	if e == nil {
		e = lim.idle.Front()
	}
	if e == nil {
		lim.mu.Unlock()
		return false
	}
	c := e.Value.(*limitedConn)
	fresh := c.in == &lim.fresh
	lim.unpark(c)
	held := fresh && lim.tarpit != nil && c.ip != "" && lim.byIP[c.ip] >= cmp.Or(lim.holdFrom, defaultHoldFrom)
	c.held.Store(held)
	lim.mu.Unlock()
	lim.Evicted.Add(1)
	if held {
		// The server's read of its request head ends now, and the server
		// closes it: Close hands it to the tarpit.
		lim.Held.Add(1)
		c.Conn.SetReadDeadline(time.Now())
		return true
	}
	c.Close()
	return true
}

// evictScan is how many of the connections waiting longest for their
// first request head victim compares.
const evictScan = 64

// victim returns the fresh connection to evict (nil: none), with lim.mu
// held: of the evictScan waiting longest for their first request head,
// the one whose client holds the most connections, the longest waiting of
// those. Slow heads from many addresses push a normal client's fresh
// connection to the front of the list as they arrive after it; taken by
// age alone, it was closed when its head was late on a busy machine (7
// transport errors of 750 requests in one run of three, cmd/chaos
// -scenarios slowloris -slow-ips 100), while the attacker's, 50 to an
// address against the client's 16 at most, waited behind it.
func (lim *connLimit) victim() *list.Element {
	e := lim.fresh.Front()
	if e == nil || lim.byIP == nil {
		return e
	}
	best, most := e, int64(-1)
	for i := 0; e != nil && i < evictScan; i, e = i+1, e.Next() {
		if n := lim.byIP[e.Value.(*limitedConn).ip]; n > most {
			best, most = e, n
		}
	}
	return best
}

// busy marks c as having one more (n 1) or one fewer (n -1) request in a
// handler; a connection with none may be evicted, the longest waiting
// first.
func (lim *connLimit) busy(c *limitedConn, n int) {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if c.closed {
		return
	}
	c.active += n
	switch {
	case c.active > 0:
		lim.unpark(c)
	case c.active == 0 && c.in == nil:
		lim.park(c, &lim.idle)
	}
}

// park puts c at the back of l; unpark takes it out of its list, if it is
// in one. Both with lim.mu held.
func (lim *connLimit) park(c *limitedConn, l *list.List) {
	c.in, c.elem = l, l.PushBack(c)
}

func (lim *connLimit) unpark(c *limitedConn) {
	if c.in != nil {
		c.in.Remove(c.elem)
		c.in, c.elem = nil, nil
	}
}

type connKey struct{}

// connContext is the http.Server's ConnContext: it keeps the connection
// for markBusy.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitedConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// markBusy marks the request's connection busy while h handles it (see
// connLimit.busy).
func markBusy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lc, ok := r.Context().Value(connKey{}).(*limitedConn); ok {
			lc.lim.busy(lc, 1)
			defer lc.lim.busy(lc, -1)
		}
		h.ServeHTTP(w, r)
	})
}
