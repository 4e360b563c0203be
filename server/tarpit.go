package server

import (
	"net"
	"sync"
	"time"
)

// A tarpit holds the connections a client opens past -max-conns-per-ip:
// nothing is read from them or written to them for tarpitHold, then they
// are answered 503 with Retry-After and closed. Answered at once, a
// client that reconnects as soon as it is refused (a slowloris attack)
// would have the composer accept and answer thousands of connections a
// second, and eat the processors its other clients need; held, each
// connection costs it tarpitHold. A held connection costs the composer a
// file descriptor and a slot in a queue, no goroutine: one timer at a
// time releases the ones due. At most maxTarpit are held; beyond, a
// connection is closed at once.
//
// A tarpit is safe for concurrent use.
type tarpit struct {
	hold time.Duration
	max  int

	mu      sync.Mutex
	q       []heldConn // in arrival order, so in order of release
	timer   *time.Timer
	stopped bool
}

type heldConn struct {
	c     net.Conn
	until time.Time
}

const (
	tarpitHold = 5 * time.Second
	// maxTarpit bounds the file descriptors the tarpit holds (the
	// process's limit is the hard RLIMIT_NOFILE, which Go raises the soft
	// one to: 20,000 on the machine of RELIABILITY.md, a million in
	// Docker's default).
	maxTarpit = 8192
)

// add holds c; it reports false (and closes c) when the tarpit is full or
// stopped.
func (t *tarpit) add(c net.Conn) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || len(t.q) >= t.max {
		c.Close()
		return false
	}
	t.q = append(t.q, heldConn{c: c, until: now.Add(t.hold)})
	if t.timer == nil {
		t.timer = time.AfterFunc(t.hold, t.release)
	}
	return true
}

// release answers and closes the connections due, then waits for the
// next one.
func (t *tarpit) release() {
	now := time.Now()
	t.mu.Lock()
	n := 0
	for n < len(t.q) && !t.q[n].until.After(now) {
		n++
	}
	due := t.q[:n:n]
	t.q = t.q[n:]
	if len(t.q) > 0 && !t.stopped {
		t.timer = time.AfterFunc(t.q[0].until.Sub(now), t.release)
	} else {
		t.timer = nil
	}
	t.mu.Unlock()
	for _, h := range due {
		answer(h.c)
	}
}

// answer writes the 503 without waiting (the connection's send buffer
// is empty: nothing was ever written to it) and closes the connection.
func answer(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	c.Write(shedResponse)
	c.Close()
}

// stop closes every held connection and holds no more.
func (t *tarpit) stop() {
	t.mu.Lock()
	q := t.q
	t.q, t.stopped = nil, true
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.mu.Unlock()
	for _, h := range q {
		h.c.Close()
	}
}

// len returns the connections held.
func (t *tarpit) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.q)
}
