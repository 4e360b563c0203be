package cdn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cdnStub records the purges it receives; block, when set, holds each
// request until it is closed.
type cdnStub struct {
	mu     sync.Mutex
	keys   [][]string
	status int
	block  chan struct{}
}

func (s *cdnStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != "PURGE" {
		w.WriteHeader(405)
		return
	}
	s.keys = append(s.keys, strings.Fields(r.Header.Get("xkey")))
	if s.status != 0 {
		w.WriteHeader(s.status)
	}
}

func (s *cdnStub) got() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys)
}

func flush(t *testing.T, p *Purger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPurgesAreSentAndGathered: keys reach the CDN as PURGE requests with
// an xkey header; keys given while a request is in flight go together in
// the next one, once each.
func TestPurgesAreSentAndGathered(t *testing.T) {
	stub := &cdnStub{block: make(chan struct{})}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	p, err := New(srv.URL+"/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Purge("score?match=m1", "score?*")
	// The first request is held at the CDN: these wait for the next one.
	for !stubWaiting(p) {
		time.Sleep(time.Millisecond)
	}
	p.Purge("score?match=m2", "score?*")
	p.Purge("score?match=m2", "nav")
	close(stub.block)
	flush(t, p)
	got := stub.got()
	want := [][]string{{"score?match=m1", "score?*"}, {"score?match=m2", "score?*", "nav"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("purges %q, want %q", got, want)
	}
	if st := p.Stats(); st.Requests.Load() != 2 || st.Keys.Load() != 5 || st.Failed.Load() != 0 {
		t.Fatalf("stats: %d requests, %d keys, %d failed", st.Requests.Load(), st.Keys.Load(), st.Failed.Load())
	}
}

// stubWaiting reports whether the Purger has taken its queue into a
// request.
func stubWaiting(p *Purger) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) == 0 && !p.idle
}

// TestPurgeBatchesAreBounded: many keys go in several requests, each
// header within its bound.
func TestPurgeBatchesAreBounded(t *testing.T) {
	stub := &cdnStub{}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	p, _ := New(srv.URL, Options{})
	defer p.Close()
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = "score?match=m" + strings.Repeat("0", 10) + string(rune('a'+i%26)) + strings.Repeat("x", i%7) + "-" + strconv.Itoa(i)
	}
	p.Purge(keys...)
	flush(t, p)
	var all []string
	for _, b := range stub.got() {
		if n := len(strings.Join(b, " ")); n > maxBatchBytes {
			t.Errorf("a purge of %d bytes", n)
		}
		all = append(all, b...)
	}
	if !slices.Equal(all, keys) {
		t.Fatalf("%d keys purged, want %d in order", len(all), len(keys))
	}
}

// TestPurgeFailures: a CDN that refuses or is gone costs a counted, logged
// failure, never a block or a panic.
func TestPurgeFailures(t *testing.T) {
	stub := &cdnStub{status: 403}
	srv := httptest.NewServer(stub)
	p, _ := New(srv.URL, Options{Timeout: time.Second})
	defer p.Close()
	p.Purge("a")
	flush(t, p)
	srv.Close()
	p.Purge("b")
	flush(t, p)
	if n := p.Stats().Failed.Load(); n != 2 {
		t.Fatalf("%d failures, want 2", n)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "varnish:6081", "ftp://x/", "http://", "http://a b/"} {
		if _, err := New(u, Options{}); err == nil || !strings.HasPrefix(err.Error(), "cdn: ") {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}
