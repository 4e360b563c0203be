package server

import (
	"bytes"
	"cmp"
	"container/list"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/broadsheet/broadsheet/internal/clientip"
)

// connLimit bounds the connections a listener keeps open at once. A
// connection over the bound is not left waiting in the kernel's accept
// queue (as golang.org/x/net/netutil.LimitListener would leave it, blocking
// Accept): it is accepted and answered at once with a 503 and Retry-After,
// then closed, so that a client of an overloaded composer hears "come back
// later" in milliseconds instead of timing out, and the composer's memory
// and goroutines stay bounded by the limit rather than by the offered load.
//
// The same holds per client: at most perIP connections from one address
// (an IPv6 one by its /64, clientip.OfAddr), so that one client holding
// slow connections — sending its request a byte at a time, or never
// reading its answer — cannot take the slots every other client needs.
// Its connections past perIP are not answered at once but held in a
// tarpit for a while (tarpit.go), so that reconnecting as fast as it is
// refused costs it more than it costs the composer.
//
// At the bound, a new connection takes the slot of one without a request
// in its handler, which is closed: first one that has waited long for its
// first request head (of those waiting longest, one of the client holding
// most connections, see victim), else the one idle longest between
// requests.
// Slow request heads from many addresses then cost each other their
// slots, not a normal client, whose request reaches the handler in a
// moment and whose keep-alive connection has served a request. Only when
// every connection has a request in its handler is the new one shed.
// A connection evicted before its first request head whose client holds
// many connections (holdFrom, more than a browser opens to one host) is
// not closed but moved to the tarpit: closed, a slowloris reopens it at
// once, and the composer and the attacker spent the processors on
// thousands of connections a second (the normal client's requests
// waiting behind them: p50 661 ms, p99 2.1 s at 5,000 slow heads from 100
// addresses); held, each costs the attacker the tarpit's hold.
// (Closing an idle keep-alive connection is allowed by HTTP; clients
// retry an idempotent request on a new one.)
//
// The answers themselves are bounded too: at most maxShedding are being
// written at once (each a small goroutine, for at most shedWrite +
// shedRead); beyond that, extra connections are closed without a word. A connLimit is safe for concurrent use.
type connLimit struct {
	max      int64 // 0: no bound overall
	perIP    int64 // 0: no bound per client
	open     atomic.Int64
	shedding atomic.Int64
	Shed     atomic.Int64 // connections over a bound: answered 503, or closed
	ShedIP   atomic.Int64 // of those, over perIP
	Dropped  atomic.Int64 // of those, closed unanswered (maxShedding reached, or the tarpit full)
	// hold is how long the tarpit holds a connection (0: tarpitHold).
	hold time.Duration

	mu     sync.Mutex
	byIP   map[string]int64 // open connections per client, when perIP > 0
	tarpit *tarpit          // made with byIP
	// fresh lists the open connections that have not had a request in a
	// handler yet, and idle those between requests, longest waiting
	// first: those a new connection may take the slot of.
	fresh, idle list.List    // of *limitedConn
	Evicted     atomic.Int64 // connections closed for a new one's sake
	Held        atomic.Int64 // of those, moved to the tarpit (see holdFrom)
	// holdFrom is how many open connections a client must have for its
	// evicted fresh ones to be held in the tarpit (0: defaultHoldFrom).
	holdFrom int64
}

const (
	// defaultMaxConns is -max-conns' default. At this machine's measured
	// capacity (about 1,600 scores pages a second, p99 a few ms) a
	// thousand connections are more than can be kept busy even at the
	// 400 ms budget; past that, more connections only queue work the
	// composer cannot do in time, at some 40 KiB each (a goroutine and its
	// buffers).
	defaultMaxConns = 1024
	// defaultHoldFrom is connLimit.holdFrom's default: more connections
	// than a browser opens to one host (six).
	defaultHoldFrom = 8
	maxShedding     = 4096
	shedWrite       = 100 * time.Millisecond
	shedRead        = time.Second
	// shedRetryAfter is the Retry-After of a shed connection, in seconds.
	shedRetryAfter = "1"
)

const shedBody = "Too many connections; please retry in a moment.\n"

var shedResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Retry-After: " + shedRetryAfter + "\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Cache-Control: no-store\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(shedBody)) + "\r\n\r\n" +
	shedBody)

// limitListener wraps l so that at most lim.max of its connections are
// open at once, and lim.perIP of one client's; without either bound it
// returns l unchanged.
func limitListener(l net.Listener, lim *connLimit) net.Listener {
	if lim == nil || (lim.max <= 0 && lim.perIP <= 0) {
		return l
	}
	return &limitedListener{Listener: l, lim: lim}
}

type limitedListener struct {
	net.Listener
	lim *connLimit
}

// Accept returns the next connection within the bound, answering the ones
// over it on the way.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.lim.open.Add(1) > l.lim.max && l.lim.max > 0 {
			l.lim.open.Add(-1)
			if !l.lim.evict() {
				l.lim.shed(c)
				continue
			}
			l.lim.open.Add(1)
		}
		ip := ""
		if l.lim.perIP > 0 {
			ip = clientip.OfAddr(c.RemoteAddr())
			if !l.lim.takeIP(ip) {
				l.lim.open.Add(-1)
				l.lim.Shed.Add(1)
				l.lim.ShedIP.Add(1)
				if !l.lim.tarpit.add(c) {
					l.lim.Dropped.Add(1)
				}
				continue
			}
		}
		lc := &limitedConn{Conn: c, lim: l.lim, ip: ip}
		l.lim.mu.Lock()
		l.lim.park(lc, &l.lim.fresh)
		l.lim.mu.Unlock()
		return lc, nil
	}
}

// Close closes the listener and lets go of the connections in the
// tarpit.
func (l *limitedListener) Close() error {
	err := l.Listener.Close()
	l.lim.mu.Lock()
	t := l.lim.tarpit
	l.lim.mu.Unlock()
	if t != nil {
		t.stop()
	}
	return err
}

// takeIP counts one more connection of client ip, unless it has perIP.
func (lim *connLimit) takeIP(ip string) bool {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if lim.byIP[ip] >= lim.perIP {
		return false
	}
	if lim.byIP == nil {
		lim.byIP = map[string]int64{}
		lim.tarpit = &tarpit{hold: cmp.Or(lim.hold, tarpitHold), max: maxTarpit}
	}
	lim.byIP[ip]++
	return true
}

func (lim *connLimit) releaseIP(ip string) {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if lim.byIP[ip]--; lim.byIP[ip] <= 0 {
		delete(lim.byIP, ip)
	}
}

// shed answers c with a 503 and closes it, off the accept loop.
func (lim *connLimit) shed(c net.Conn) {
	lim.Shed.Add(1)
	if lim.shedding.Add(1) > maxShedding {
		lim.shedding.Add(-1)
		lim.Dropped.Add(1)
		c.Close()
		return
	}
	go func() {
		defer lim.shedding.Add(-1)
		defer c.Close()
		// The answer first, at once: it does not depend on the request.
		// Then the request's head is read (a client on a busy machine may
		// send it late) before closing: closing with it unread would
		// reset the connection, and the client might lose the 503.
		c.SetWriteDeadline(time.Now().Add(shedWrite))
		if _, err := c.Write(shedResponse); err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(shedRead))
		readHead(c)
	}()
}

// readHead reads from c until the end of an HTTP request head, 64 KiB
// (the largest head the server accepts), or an error (the deadline). Its
// buffer is small: there may be maxShedding of these at once.
func readHead(c net.Conn) {
	var buf [512 + 3]byte
	kept := 0 // the last bytes of the previous read, for a split "\r\n\r\n"
	for total := 0; total < 64<<10; {
		n, err := c.Read(buf[kept:])
		total += n
		if bytes.Contains(buf[:kept+n], []byte("\r\n\r\n")) || err != nil {
			return
		}
		kept = copy(buf[:], buf[max(0, kept+n-3):kept+n])
	}
}

// limitedConn gives its slots back when closed (once, however often Close
// is called).
type limitedConn struct {
	net.Conn
	lim  *connLimit
	ip   string // its client's key, when counted per client
	once sync.Once
	// Guarded by lim.mu: requests in a handler, the list it waits in
	// (lim.fresh or lim.idle; nil while busy or once closed) and its place
	// there, and whether it was closed.
	active int
	in     *list.List
	elem   *list.Element
	closed bool
	// held is set when the connection is evicted into the tarpit: Close
	// hands it over, open.
	held atomic.Bool
}

// Close gives the connection's slots back and closes it, or, when it was
// evicted into the tarpit, hands it to the tarpit open.
func (c *limitedConn) Close() error {
	if c.held.Load() {
		c.once.Do(func() {
			c.release()
			c.Conn.SetReadDeadline(time.Time{})
			if !c.lim.tarpit.add(c.Conn) {
				c.lim.Dropped.Add(1)
			}
		})
		return nil
	}
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// release gives c's slots back, once.
func (c *limitedConn) release() {
	c.lim.mu.Lock()
	c.lim.unpark(c)
	c.closed = true
	c.lim.mu.Unlock()
	c.lim.open.Add(-1)
	if c.ip != "" {
		c.lim.releaseIP(c.ip)
	}
}

// shedLoad, shedIPLoad, droppedLoad and openLoad read the counters for
// /metrics; nil without a limit.
func (lim *connLimit) shedLoad() func() int64 {
	if !lim.on() {
		return nil
	}
	return lim.Shed.Load
}

func (lim *connLimit) shedIPLoad() func() int64 {
	if !lim.on() || lim.perIP <= 0 {
		return nil
	}
	return lim.ShedIP.Load
}

func (lim *connLimit) evictedLoad() func() int64 {
	if !lim.on() || lim.max <= 0 {
		return nil
	}
	return lim.Evicted.Load
}

func (lim *connLimit) heldLoad() func() int64 {
	if !lim.on() || lim.max <= 0 || lim.perIP <= 0 {
		return nil
	}
	return lim.Held.Load
}

func (lim *connLimit) droppedLoad() func() int64 {
	if !lim.on() {
		return nil
	}
	return lim.Dropped.Load
}

func (lim *connLimit) openLoad() func() int64 {
	if !lim.on() {
		return nil
	}
	return lim.open.Load
}

func (lim *connLimit) on() bool { return lim != nil && (lim.max > 0 || lim.perIP > 0) }
