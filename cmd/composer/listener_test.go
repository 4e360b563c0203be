package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestListenerRefusesOversizedHeaders: through the composer's own
// http.Server configuration (newListener), a request whose headers exceed
// 64 KiB gets 431 before any handler runs; one just under the limit is
// served.
func TestListenerRefusesOversizedHeaders(t *testing.T) {
	called := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called++; w.Write([]byte("ok")) })
	l, err := newListener("public", "127.0.0.1:0", h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	l.serve(errc)
	defer l.hs.Close()

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
