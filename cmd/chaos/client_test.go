package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPooledClientOverflows: with every connection busy and as many
// requests waiting for one, the overload client fails the next request at
// once with errClientOverflow, without sending it; once the busy ones are
// answered, it sends again.
func TestPooledClientOverflows(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		entered <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()           // before Close, which waits for the handlers
	client := pooledClient(1) // 1 connection, 1 waiting
	defer client.CloseIdleConnections()
	get := func() error {
		resp, err := client.Get(srv.URL)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	errs := make(chan error, 2)
	go func() { errs <- get() }()
	<-entered // the connection is busy
	go func() { errs <- get() }()
	// The second waits for the connection (its slot taken); the third
	// has no room.
	bt := client.Transport.(*boundedTransport)
	for len(bt.slots) < 2 {
		runtime.Gosched()
	}
	if err := get(); !errors.Is(err, errClientOverflow) {
		t.Fatalf("third request: %v, want errClientOverflow", err)
	}
	unblock()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("admitted request: %v", err)
		}
	}
	if err := get(); err != nil {
		t.Errorf("after the overflow: %v", err)
	}
	if n := served.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3 (the overflowing one never sent)", n)
	}
}
