package server

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/wait"
)

// TestListenerRefusesOversizedHeaders: through the composer's own
// http.Server configuration (newListener), a request whose headers exceed
// 64 KiB gets 431 before any handler runs; one just under the limit is
// served.
func TestListenerRefusesOversizedHeaders(t *testing.T) {
	called := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called++; w.Write([]byte("ok")) })
	l := startListener(t, h, nil)

	status := func(headerBytes int) int {
		t.Helper()
		conn, err := net.Dial("tcp", l.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
		// Several headers of 4 KiB each, as a cookie-stuffing client would.
		for i := 0; headerBytes > 0; i++ {
			n := min(headerBytes, 4096)
			fmt.Fprintf(&b, "X-Pad-%d: %s\r\n", i, strings.Repeat("a", n))
			headerBytes -= n
		}
		b.WriteString("\r\n")
		if _, err := conn.Write([]byte(b.String())); err != nil {
			return -1 // the server may close before reading it all
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(32 << 10); got != http.StatusOK {
		t.Errorf("32 KiB of headers: status %d, want 200", got)
	}
	for _, n := range []int{70 << 10, 256 << 10} {
		if got := status(n); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%d KiB of headers: status %d, want 431", n>>10, got)
		}
	}
	if called != 1 {
		t.Errorf("handler ran %d times, want once (only the small request)", called)
	}
}

// TestListenerShedsConnectionsOverLimit: with -max-conns 2 and two
// connections busy in the handler, a third connection is answered at once
// with 503 and Retry-After — while the two still block, so Accept did not
// wait for them — and never reaches the handler; once the two are closed,
// their slots serve again.
func TestListenerShedsConnectionsOverLimit(t *testing.T) {
	lim := &connLimit{max: 2}
	entered := make(chan struct{}, 3)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.Write([]byte("ok"))
	})
	l := startListener(t, h, lim)
	addr := l.ln.Addr().String()

	get := func() (net.Conn, *http.Response) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test, not the run
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		resp.Body.Close()
		return conn, resp
	}
	var busy []net.Conn
	done := make(chan int, 2)
	for range 2 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		busy = append(busy, conn)
		conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				done <- -1
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		<-entered
	}
	conn, resp := get()
	conn.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third connection: status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := lim.Shed.Load(); n != 1 {
		t.Errorf("shed %d connections, want 1", n)
	}
	close(release)
	for range 2 {
		if st := <-done; st != http.StatusOK {
			t.Errorf("busy connection: status %d, want 200", st)
		}
	}
	for _, c := range busy {
		c.Close()
	}
	// The server closes its side once it reads the clients' EOF.
	wait.For(t, "no connection counted open after the clients closed", func() bool { return lim.open.Load() == 0 })
	conn, resp = get()
	conn.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the busy connections closed: status %d, want 200", resp.StatusCode)
	}
	if len(entered) != 1 {
		t.Errorf("handler entered %d more times, want once (the last request only)", len(entered))
	}
}

// startListener serves h (through lim, when not nil) with newListener's
// server on a free loopback port until the test ends.
func startListener(t *testing.T, h http.Handler, lim *connLimit) *listener {
	t.Helper()
	l, err := newListener("public", "127.0.0.1:0", h, lim, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// Every connection's goroutine is waited for at the end: one answered
	// 431 sleeps half a second in net/http before it closes (its
	// rstAvoidanceDelay), which goleak would otherwise find.
	var open atomic.Int64
	l.hs.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	l.serve(make(chan error, 1))
	t.Cleanup(func() {
		l.hs.Close()
		wait.For(t, "the server's connections to close", func() bool { return open.Load() == 0 })
	})
	return l
}
