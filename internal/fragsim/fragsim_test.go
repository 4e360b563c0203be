package fragsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waits records the latencies a Server asks for and answers at once, or
// never (until the request ends) when hang is set.
type waits struct {
	mu      sync.Mutex
	got     []time.Duration
	hang    bool
	entered chan struct{} // with hang: receives once a wait has begun
}

func (w *waits) wait(ctx context.Context, d time.Duration) bool {
	w.mu.Lock()
	w.got = append(w.got, d)
	hang := w.hang
	w.mu.Unlock()
	if hang {
		w.entered <- struct{}{}
		<-ctx.Done()
		return false
	}
	return true
}

func (w *waits) last() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got[len(w.got)-1]
}

func serve(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestFragments(t *testing.T) {
	w := &waits{}
	o := Options{
		Latency: 5 * time.Millisecond, SlowEvery: 100, SlowLatency: 500 * time.Millisecond, Bytes: 200,
		CacheControl: "max-age=30", SlowCacheControl: "max-age=0, no-store", Gen: "g2", Wait: w.wait,
	}
	s, ts := serve(t, o)
	for _, tc := range []struct {
		i       int
		slow    bool
		latency time.Duration
		cc      string
	}{
		{0, false, 5 * time.Millisecond, "max-age=30"},
		{98, false, 5 * time.Millisecond, "max-age=30"},
		{99, true, 500 * time.Millisecond, "max-age=0, no-store"},
		{100, false, 5 * time.Millisecond, "max-age=30"},
		{999, true, 500 * time.Millisecond, "max-age=0, no-store"},
		{12345, false, 5 * time.Millisecond, "max-age=30"},
	} {
		resp, body := get(t, ts.URL+"/frag/"+strconv.Itoa(tc.i))
		if resp.StatusCode != 200 {
			t.Fatalf("/frag/%d: %s", tc.i, resp.Status)
		}
		if got := w.last(); got != tc.latency {
			t.Errorf("/frag/%d waited %v, want %v", tc.i, got, tc.latency)
		}
		if got := resp.Header.Get("Cache-Control"); got != tc.cc {
			t.Errorf("/frag/%d Cache-Control %q, want %q", tc.i, got, tc.cc)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("/frag/%d Content-Type %q", tc.i, got)
		}
		if len(body) != 200 {
			t.Errorf("/frag/%d: %d bytes, want 200", tc.i, len(body))
		}
		want := `<div class="fragsim" data-fragsim="` + strconv.Itoa(tc.i) + `" data-gen="g2">`
		if !bytes.HasPrefix(body, []byte(want)) || !bytes.HasSuffix(body, []byte("</div>")) {
			t.Errorf("/frag/%d body %q, want it to start with %q and end with </div>", tc.i, body, want)
		}
		if n := bytes.Count(body, []byte(Marker)); n != 1 {
			t.Errorf("/frag/%d: %d markers, want 1", tc.i, n)
		}
		if o.IsSlow(tc.i) != tc.slow {
			t.Errorf("IsSlow(%d) = %v", tc.i, !tc.slow)
		}
	}
	if st := s.Stats(); st != (Stats{Requests: 6, Slow: 2, Served: 6}) {
		t.Errorf("Stats = %+v", st)
	}
	resp, body := get(t, ts.URL+"/stats")
	var st Stats
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != 200 || st.Requests != 6 {
		t.Errorf("/stats = %s %q (%v)", resp.Status, body, err)
	}
}

func TestNoSlowAndNoCacheControl(t *testing.T) {
	w := &waits{}
	_, ts := serve(t, Options{Latency: time.Millisecond, Wait: w.wait})
	for _, i := range []string{"0", "99", "100"} {
		resp, body := get(t, ts.URL+"/frag/"+i)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "" || w.last() != time.Millisecond {
			t.Errorf("/frag/%s: %s, Cache-Control %q, waited %v", i, resp.Status, resp.Header.Get("Cache-Control"), w.last())
		}
		if !bytes.Contains(body, []byte(GenMarker("1"))) {
			t.Errorf("/frag/%s: %q has no default gen", i, body)
		}
	}
}

func TestBadPaths(t *testing.T) {
	s, ts := serve(t, Options{})
	for _, path := range []string{"/frag/", "/frag/x", "/frag/-1", "/frag/01", "/frag/+1", "/frag/1000000001", "/frag/99999999999999999999", "/frag/1/2", "/other"} {
		resp, _ := get(t, ts.URL+path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", path, resp.Status)
		}
	}
	resp, err := http.Post(ts.URL+"/frag/1", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s, want 405", resp.Status)
	}
	if st := s.Stats(); st.Requests != 0 {
		t.Errorf("bad paths counted as requests: %+v", st)
	}
}

// TestCancelled: a request whose client leaves while it waits is answered
// with nothing and counted.
func TestCancelled(t *testing.T) {
	w := &waits{hang: true, entered: make(chan struct{}, 1)}
	s, ts := serve(t, Options{Latency: time.Hour, Wait: w.wait})
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/frag/7", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-w.entered
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled request got a response")
	}
	ts.Close() // waits for the handler to return
	if st := s.Stats(); st != (Stats{Requests: 1, Cancelled: 1}) {
		t.Errorf("Stats = %+v, want one request, cancelled", st)
	}
}

func TestBody(t *testing.T) {
	for _, size := range []int{0, 10, 60, 200, 1000} {
		b := Body(42, "7", size)
		min := len(`<div class="fragsim" data-fragsim="42" data-gen="7"></div>`)
		if want := max(size, min); len(b) != want {
			t.Errorf("Body(size %d) is %d bytes, want %d", size, len(b), want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, o := range []Options{
		{Latency: -1}, {SlowLatency: -1}, {SlowEvery: -1}, {Bytes: -1},
		{Gen: `x"y`}, {Gen: "a b"}, {Gen: "0123456789012345678901234567890123"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

// TestRealWait: without a Wait, the latency is a timer that a client's
// leaving cuts short.
func TestRealWait(t *testing.T) {
	if !wait(t.Context(), time.Nanosecond) {
		t.Error("wait(1ns) = false")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if wait(ctx, time.Hour) {
		t.Error("wait on an ended context = true")
	}
}
