package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/wait"
)

// dialFrom connects to addr from the loopback address src (127.0.0.2 and
// the like are loopback on Linux: distinct clients on one machine).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test, not the run
	return c
}

func readStatus(t *testing.T, c net.Conn) int {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// blockingHandler answers "ok", except to /block, which it answers once
// release is closed, after a send on entered.
func blockingHandler() (h http.Handler, entered chan struct{}, release chan struct{}) {
	entered, release = make(chan struct{}, 4), make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered <- struct{}{}
			<-release
		}
		w.Write([]byte("ok"))
	}), entered, release
}

// TestListenerLimitsConnectionsPerClient: with -max-conns-per-ip 2 and
// two of 127.0.0.1's connections busy in the handler, a third from
// 127.0.0.1 is held in the tarpit, then answered 503 with Retry-After and
// closed, while one from 127.0.0.2 is served at once; once the two close,
// 127.0.0.1 is served again.
func TestListenerLimitsConnectionsPerClient(t *testing.T) {
	lim := &connLimit{max: 100, perIP: 2, hold: 50 * time.Millisecond}
	h, entered, release := blockingHandler()
	l := startListener(t, h, lim)
	addr := l.ln.Addr().String()

	var busy []net.Conn
	for range 2 {
		c := dialFrom(t, "127.0.0.1", addr)
		busy = append(busy, c)
		c.Write([]byte("GET /block HTTP/1.1\r\nHost: x\r\n\r\n"))
		<-entered
	}
	c := dialFrom(t, "127.0.0.1", addr) // its request head is never sent: a slowloris
	other := dialFrom(t, "127.0.0.2", addr)
	other.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if st := readStatus(t, other); st != 200 {
		t.Errorf("a connection from 127.0.0.2: %d, want 200", st)
	}
	other.Close()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the held connection was not closed after its 503")
	}
	c.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third connection from 127.0.0.1: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if lim.ShedIP.Load() != 1 || lim.Shed.Load() != 1 || lim.tarpit.len() != 0 {
		t.Errorf("shed %d, per IP %d, still held %d; want 1, 1 and 0", lim.Shed.Load(), lim.ShedIP.Load(), lim.tarpit.len())
	}
	close(release)
	for _, b := range busy {
		if st := readStatus(t, b); st != 200 {
			t.Errorf("busy connection: %d", st)
		}
		b.Close()
	}
	// The server closes its side once it reads the clients' EOF.
	wait.For(t, "no client counted after every connection closed", func() bool {
		lim.mu.Lock()
		defer lim.mu.Unlock()
		return len(lim.byIP) == 0
	})
	c = dialFrom(t, "127.0.0.1", addr)
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if st := readStatus(t, c); st != 200 {
		t.Errorf("127.0.0.1 after its connections closed: %d, want 200", st)
	}
	c.Close()
}

// TestSlowReaderIsReleased: a client that asks for a long streamed answer
// and never reads it holds its handler only until a write waits longer
// than the write deadline: the write fails and the handler returns.
func TestSlowReaderIsReleased(t *testing.T) {
	returned := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 4096 { // 256 MiB: far more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				returned <- err
				return
			}
			w.(http.Flusher).Flush()
		}
		returned <- nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: writeDeadlines(h, 100*time.Millisecond)}
	go hs.Serve(ln)
	defer hs.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) // and never read
	select {
	case err := <-returned:
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("the handler returned with %v, want a write timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler still writes to a client that reads nothing")
	}
}

// TestSlowHeaderIsCutOff: through newListener's server, a client that
// sends its request head a little at a time is disconnected (with a 4xx
// at most) once the header timeout passes, without the handler ever
// running.
func TestSlowHeaderIsCutOff(t *testing.T) {
	called := make(chan struct{}, 1)
	l := startListener(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called <- struct{}{} }), nil)
	c, err := net.Dial("tcp", l.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	closed := make(chan error, 1)
	go func() {
		// Until the server closes: an EOF, or a reset (closed with our
		// bytes unread); a timeout is our own deadline, not a close.
		b, err := io.ReadAll(c)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
		case err != nil:
			err = nil
		case len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 4"):
			err = errors.New("answered " + string(b))
		}
		closed <- err
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
			if len(called) != 0 {
				t.Fatal("the handler ran")
			}
			return
		case <-tick.C:
			if i > 60 {
				t.Fatal("a head sent a byte every half second is still being read after 30 s")
			}
			c.Write([]byte("X")) // a header line that never ends
		}
	}
}

// TestTarpit: held connections hear nothing until their hold ends, then a
// 503 and the close; past its bound the tarpit closes a connection at
// once; stopped, it closes what it holds.
func TestTarpit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (client, server net.Conn) {
		t.Helper()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		client.SetDeadline(time.Now().Add(10 * time.Second))
		return client, server
	}
	tp := &tarpit{hold: 100 * time.Millisecond, max: 2}
	var clients []net.Conn
	for range 3 {
		c, s := pair()
		clients = append(clients, c)
		tp.add(s)
	}
	if b, err := io.ReadAll(clients[2]); err != nil || len(b) != 0 {
		t.Fatalf("over the bound: read %q, %v; want closed at once, unanswered", b, err)
	}
	for i, c := range clients[:2] {
		b, err := io.ReadAll(c)
		if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 503") {
			t.Fatalf("held connection %d: %q, %v; want a 503, then the close", i, b, err)
		}
	}
	if tp.len() != 0 {
		t.Fatalf("%d still held", tp.len())
	}
	tp = &tarpit{hold: time.Hour, max: 2}
	c, s := pair()
	tp.add(s)
	tp.stop()
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("after stop: %q, %v; want closed unanswered", b, err)
	}
	_, s = pair()
	if tp.add(s) {
		t.Fatal("a stopped tarpit took a connection")
	}
}

// TestNewFlagsFromEnvironment: the per-client and secret flags are set
// from BROADSHEET_ variables like every other flag.
func TestNewFlagsFromEnvironment(t *testing.T) {
	for k, v := range map[string]string{
		"BROADSHEET_MAX_CONNS_PER_IP":       "7",
		"BROADSHEET_RATE_PER_IP":            "2.5",
		"BROADSHEET_BURST_PER_IP":           "9",
		"BROADSHEET_CLIENT_IP_HEADER":       "X-Real-Ip",
		"BROADSHEET_ADMIN_TOKEN_FILE":       "/run/secrets/token",
		"BROADSHEET_READER_SECRET_FILE":     "/run/secrets/reader",
		"BROADSHEET_READER_SECRET_PREVIOUS": "old",
	} {
		t.Setenv(k, v)
	}
	o, err := parseFlags(Site{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.maxConnsPerIP != 7 || o.ratePerIP != 2.5 || o.burstPerIP != 9 || o.clientIPHeader != "X-Real-Ip" ||
		o.adminTokenFile != "/run/secrets/token" || o.readerSecretFile != "/run/secrets/reader" || o.readerPrevious != "old" {
		t.Errorf("options from the environment: %+v %+v", o.clientOptions, o.secretOptions)
	}
	if len(o.onCommandLine) != 0 {
		t.Errorf("secrets from the environment reported as on the command line: %v", o.onCommandLine)
	}
}

// TestListenerEvictsTheLongestWaiting: at -max-conns 3, with one
// connection busy in the handler, one idle after a request and one that
// never sends its request head (a slowloris from another address), a new
// connection takes the slow one's slot — though the idle one waited
// longer — and is served; the slow one is closed, the idle one serves on.
// With no slow one left, the next new connection takes the slot of the
// connection idle longest.
func TestListenerEvictsTheLongestWaiting(t *testing.T) {
	lim := &connLimit{max: 3}
	h, entered, release := blockingHandler()
	l := startListener(t, h, lim)
	addr := l.ln.Addr().String()
	get := func(c net.Conn) int {
		t.Helper()
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		return readStatus(t, c)
	}

	busy := dialFrom(t, "127.0.0.1", addr)
	defer busy.Close()
	busy.Write([]byte("GET /block HTTP/1.1\r\nHost: x\r\n\r\n"))
	<-entered
	idle := dialFrom(t, "127.0.0.2", addr)
	defer idle.Close()
	if st := get(idle); st != 200 {
		t.Fatalf("idle connection's first request: %d", st)
	}
	slow := slowHeads(t, "127.0.0.3", addr, 1)[0]
	wait.For(t, "the slow connection to be accepted", func() bool { return lim.open.Load() == 3 })

	normal := dialFrom(t, "127.0.0.4", addr)
	defer normal.Close()
	if st := get(normal); st != 200 {
		t.Fatalf("a new connection at the limit: %d, want 200", st)
	}
	if !connClosed(slow) {
		t.Error("the slow connection was not closed")
	}
	if st := get(idle); st != 200 {
		t.Errorf("the idle connection after the slow one was closed: %d, want 200", st)
	}
	other := dialFrom(t, "127.0.0.5", addr)
	defer other.Close()
	if st := get(other); st != 200 {
		t.Errorf("a new connection beside idle ones at the limit: %d, want 200", st)
	}
	if !connClosed(normal) {
		t.Error("the connection idle longest was not closed")
	}
	if lim.Evicted.Load() != 2 || lim.Shed.Load() != 0 {
		t.Errorf("evicted %d, shed %d; want 2 and 0", lim.Evicted.Load(), lim.Shed.Load())
	}
	close(release)
	if st := readStatus(t, busy); st != 200 {
		t.Errorf("the busy connection: %d, want 200", st)
	}
}

// TestListenerEvictsTheBusiestClient: at the bound, of the connections
// waiting for their first request head, one of the client holding most
// connections is evicted, not an older one of a client holding few — a
// normal client's connection whose head is late, among a slowloris's.
func TestListenerEvictsTheBusiestClient(t *testing.T) {
	lim := &connLimit{max: 3, perIP: 10}
	h, _, _ := blockingHandler()
	l := startListener(t, h, lim)
	addr := l.ln.Addr().String()
	late := slowHeads(t, "127.0.0.3", addr, 1)[0] // the oldest
	slow := slowHeads(t, "127.0.0.5", addr, 2)
	wait.For(t, "the three connections to be accepted", func() bool { return lim.open.Load() == 3 })
	normal := dialFrom(t, "127.0.0.4", addr)
	defer normal.Close()
	normal.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if st := readStatus(t, normal); st != 200 {
		t.Fatalf("a new connection at the limit: %d, want 200", st)
	}
	if !connClosed(slow[0]) {
		t.Error("the oldest connection of the client holding two was not closed")
	}
	// The late head comes: its connection was kept.
	late.Write([]byte("Host: x\r\n\r\n"))
	if st := readStatus(t, late); st != 200 {
		t.Errorf("the older connection of the client holding one: %d, want 200", st)
	}
}

// TestListenerHoldsEvictedSlowHeads: at -max-conns 3, a client holding
// many connections without a request head (a slowloris) has its evicted
// ones moved to the tarpit — held open, answered 503 after the hold —
// rather than closed, which it would reopen at once; the new connection
// is served. A client with few connections is closed as before.
func TestListenerHoldsEvictedSlowHeads(t *testing.T) {
	lim := &connLimit{max: 3, perIP: 10, holdFrom: 2, hold: 50 * time.Millisecond}
	h, _, _ := blockingHandler()
	l := startListener(t, h, lim)
	addr := l.ln.Addr().String()
	slow := slowHeads(t, "127.0.0.3", addr, 3)
	wait.For(t, "the slow connections to be accepted", func() bool { return lim.open.Load() == 3 })
	normal := dialFrom(t, "127.0.0.4", addr)
	defer normal.Close()
	normal.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if st := readStatus(t, normal); st != 200 {
		t.Fatalf("a new connection at the limit: %d, want 200", st)
	}
	// The longest waiting slow head is answered by the tarpit, not reset.
	slow[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if st := readStatus(t, slow[0]); st != http.StatusServiceUnavailable {
		t.Errorf("the evicted slow connection: %d, want the tarpit's 503", st)
	}
	if lim.Evicted.Load() != 1 || lim.Held.Load() != 1 {
		t.Errorf("evicted %d, held %d; want 1 and 1", lim.Evicted.Load(), lim.Held.Load())
	}
}

// connClosed reports whether the server closed c (read within 5 s).
func connClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// slowHeads dials n connections to addr from ip, each sending the start
// of a request head and no more; they are closed when the test ends.
func slowHeads(t *testing.T, ip, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		c := dialFrom(t, ip, addr)
		t.Cleanup(func() { c.Close() })
		c.Write([]byte("GET / HTTP/1.1\r\n"))
		conns[i] = c
	}
	return conns
}
