package remote

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/internal/wait"
)

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := New(o)
	t.Cleanup(c.Close)
	return c
}

func TestFetchOK(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=30, stale-while-revalidate=60, stale-if-error=600")
		w.Header().Add("Link", `<https://cdn.example/score.css>; rel="stylesheet", <score.js>; rel="fragment-script"`)
		w.Header().Add("Link", `</static/a.css>; rel=preload; as=style`)
		_, _ = w.Write([]byte(`<li>2–1 <bs-include fragment="x"></bs-include></li>`))
	}))
	defer srv.Close()
	c := newClient(t, Options{})
	raw, err := c.Fetch(context.Background(), srv.URL+"/fragments/score?match=m1")
	if err != nil {
		t.Fatal(err)
	}
	if string(raw.HTML) != `<li>2–1 <bs-include fragment="x"></bs-include></li>` {
		t.Errorf("HTML = %q", raw.HTML)
	}
	if !raw.HasFreshness || raw.Fresh != 30*time.Second || raw.Stale != 600*time.Second {
		t.Errorf("freshness = %v %v %v", raw.HasFreshness, raw.Fresh, raw.Stale)
	}
	want := []string{"https://cdn.example/score.css", srv.URL + "/fragments/score.js", "/static/a.css"}
	if strings.Join(raw.Assets, " ") != strings.Join(want, " ") {
		t.Errorf("assets = %q, want %q", raw.Assets, want)
	}
	if got.Get("Accept") != "text/html" || got.Get("User-Agent") != "broadsheet-composer" || got.Get("Cookie") != "" || got.Get("Authorization") != "" {
		t.Errorf("request headers = %v", got)
	}
	st := c.Stats()
	if len(st) != 1 || st[0].Requests != 1 || st[0].OK != 1 || st[0].Breaker != "closed" {
		t.Errorf("stats = %+v", st)
	}
}

// TestFetchHostile checks that each hostile response fails its fetch with
// the right kind, is counted, and never yields its body.
func TestFetchHostile(t *testing.T) {
	const max = 4 << 10
	tests := []struct {
		name    string
		handler http.HandlerFunc
		kind    Kind
		status  int
	}{
		{"huge body", func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("<p>x</p>", 1024))
			for i := 0; i < 1<<12 && r.Context().Err() == nil; i++ { // 32 MiB unless stopped
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, KindOversized, 0},
		{"huge declared length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000000000")
			_, _ = w.Write([]byte("<p>"))
		}, KindOversized, 0},
		{"slow drip", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			for {
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}, KindTimeout, 0},
		{"slow headers", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, KindTimeout, 0},
		{"invalid utf-8", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("<p>\xff\xfe</p>"))
		}, KindInvalidUTF8, 0},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		}, KindRedirect, http.StatusFound},
		{"500 with an error page", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			_, _ = w.Write([]byte("<h1>Internal Server Error</h1><pre>secret stack trace</pre>"))
		}, KindStatus, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := newClient(t, Options{MaxBodyBytes: max})
			// The kind shows why each fetch ended: one that hung until
			// the deadline is a timeout, not the kind wanted (no clock is
			// read).
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			raw, err := c.Fetch(ctx, srv.URL+"/f")
			if raw != nil {
				t.Errorf("got a result: %q", raw.HTML)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind || e.Status != tt.status {
				t.Fatalf("err = %v, want kind %s status %d", err, tt.kind, tt.status)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "169.254") {
				t.Errorf("error text leaks the response: %v", err)
			}
			st := c.Stats()[0]
			if st.Requests != 1 || st.Errors[tt.kind.String()] != 1 || st.OK != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestFetchNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := newClient(t, Options{}).Fetch(context.Background(), srv.URL)
	if !errors.Is(err, composer.ErrNotFound) {
		t.Errorf("err = %v, want composer.ErrNotFound", err)
	}
}

func TestBreaker(t *testing.T) {
	var calls atomic.Int64
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !healthy.Load() {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c := newClient(t, Options{BreakerFailures: 3, BreakerOpen: 100 * time.Millisecond, BreakerProbes: 2})
	for range 3 {
		if _, err := c.Fetch(context.Background(), srv.URL); err == nil {
			t.Fatal("want an error")
		}
	}
	// Open: fails fast without calling the host.
	for range 10 {
		_, err := c.Fetch(context.Background(), srv.URL)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindBreakerOpen {
			t.Fatalf("err = %v, want breaker_open", err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("host called %d times, want 3", n)
	}
	// Healthy again: after the open period, the probes (two successes in
	// a row) close the breaker.
	healthy.Store(true)
	wait.For(t, "the breaker to close", func() bool {
		_, _ = c.Fetch(context.Background(), srv.URL)
		return c.Stats()[0].Breaker == "closed"
	})
	if st := c.Stats()[0]; st.OK != 2 || st.Errors["breaker_open"] < 10 || st.Errors["status"] != 3 {
		t.Errorf("stats = %+v; want 2 probes", st)
	}
}

// TestBreakerHalfOpenTrickle: a half-open breaker lets BreakerProbes
// requests through at a time, and fails the rest at once.
func TestBreakerHalfOpenTrickle(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	g := make(chan struct{})
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(502)
			return
		}
		reached.Add(1)
		<-g
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c := newClient(t, Options{BreakerFailures: 2, BreakerOpen: 50 * time.Millisecond, BreakerProbes: 3})
	for range 2 {
		_, _ = c.Fetch(context.Background(), srv.URL)
	}
	if st := c.Stats()[0]; st.Breaker != "open" {
		t.Fatalf("breaker %s after 2 502s, want open", st.Breaker)
	}
	fail.Store(false)
	// The open period passes by the clock.
	wait.For(t, "the breaker to half-open", func() bool { return c.Stats()[0].Breaker != "open" })
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := c.Fetch(context.Background(), srv.URL)
			errs <- err
		})
	}
	// Seven are refused at once; three reach the host.
	refused := 0
	for range 7 {
		var e *Error
		if err := <-errs; !errors.As(err, &e) || e.Kind != KindBreakerOpen {
			t.Errorf("err = %v, want breaker_open", err)
		}
		refused++
	}
	close(g)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a probe failed: %v", err)
		}
	}
	if n := reached.Load(); n != 3 || c.Stats()[0].Breaker != "closed" {
		t.Errorf("%d probes reached the host, breaker %s; want 3 and closed", n, c.Stats()[0].Breaker)
	}
}

// TestBreakerIgnoresTimeouts: one URL of a host that is slow (every
// request to it times out) costs its own includes their timeouts and
// nothing else: the host's breaker stays closed and its other URLs are
// fetched as ever. The timeouts are counted for the fragment.
func TestBreakerIgnoresTimeouts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("id") == "slow" {
			<-r.Context().Done()
			return
		}
		_, _ = w.Write([]byte("<p>ok</p>"))
	}))
	defer srv.Close()
	c := newClient(t, Options{BreakerFailures: 2})
	s := remoteSpec(t, c, srv.URL, "f", false)
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := render(ctx, s, "slow")
		cancel()
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindTimeout {
			t.Fatalf("slow URL: %v, want a timeout", err)
		}
		if _, err := render(context.Background(), s, "fast"); err != nil {
			t.Fatalf("fast URL after %v: %v", e, err)
		}
	}
	if st := c.Stats()[0]; st.Breaker != "closed" || st.Errors["timeout"] != 20 || st.OK != 20 {
		t.Errorf("host stats = %+v", st)
	}
	if fs := c.FragmentStats(); len(fs) != 1 || fs[0].Fragment != "f" || fs[0].Errors["timeout"] != 20 || fs[0].OK != 20 || fs[0].Requests != 40 {
		t.Errorf("fragment stats = %+v", fs)
	}
}

// TestBreakerOpensOnRefusedAndCloses: a host that refuses connections
// opens its breaker after BreakerFailures attempts; once it listens again
// on the same address, the breaker's probes find it within BreakerOpen.
func TestBreakerOpensOnRefusedAndCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connections are refused
	c := newClient(t, Options{BreakerFailures: 3, BreakerOpen: 100 * time.Millisecond})
	for i := range 3 {
		_, err := c.Fetch(context.Background(), "http://"+addr+"/f")
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindNetwork {
			t.Fatalf("attempt %d: %v, want a network error", i, err)
		}
	}
	if st := c.Stats()[0]; st.Breaker != "open" {
		t.Fatalf("breaker %s after 3 refused connections, want open", st.Breaker)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the address was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	wait.For(t, "the breaker to close", func() bool {
		_, _ = c.Fetch(context.Background(), "http://"+addr+"/f")
		return c.Stats()[0].Breaker == "closed"
	})
	if _, err := c.Fetch(context.Background(), "http://"+addr+"/f"); err != nil {
		t.Errorf("after the host came back: %v", err)
	}
}

func TestBreakerIgnoresClientErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
	}))
	defer srv.Close()
	c := newClient(t, Options{BreakerFailures: 2})
	for range 5 {
		_, _ = c.Fetch(context.Background(), srv.URL)
	}
	if st := c.Stats()[0]; st.Breaker != "closed" || st.Errors["status"] != 5 {
		t.Errorf("stats = %+v", st)
	}
}

// inMemory sends every request to h on the calling goroutine, with no
// network: inside a synctest bubble, a request blocked in h is durably
// blocked, so synctest.Wait shows where every request stands.
type inMemory http.HandlerFunc

func (h inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	h(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

// TestInFlightLimit runs in a synctest bubble with an in-memory host:
// once every request is blocked, the host has seen exactly as many as the
// limit, and the others wait for a slot.
func TestInFlightLimit(t *testing.T) {
	synctest.Test(t, testInFlightLimit)
}

func testInFlightLimit(t *testing.T) {
	const host = "http://fragments.test"
	var now, peak atomic.Int64
	release := make(chan struct{})
	handler := inMemory(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		defer now.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte("ok"))
	})
	c := newClient(t, Options{MaxInFlightPerHost: 3, Transport: handler})
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.Fetch(context.Background(), host)
		})
	}
	synctest.Wait() // every request in the host or waiting for a slot
	if p := peak.Load(); p != 3 {
		t.Errorf("peak in flight = %d, want 3", p)
	}
	close(release)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// A waiter whose deadline passes while waiting gives up.
	block := make(chan struct{})
	c2 := newClient(t, Options{MaxInFlightPerHost: 1, Transport: inMemory(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})})
	var first sync.WaitGroup
	defer first.Wait()
	defer close(block)
	first.Go(func() { _, _ = c2.Fetch(context.Background(), host) })
	synctest.Wait() // the first request holds the one slot
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c2.Fetch(ctx, host)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindQueued {
		t.Errorf("err = %v, want queued: waiting for a slot", err)
	}
	if st := c2.Stats()[0]; st.Breaker != "closed" || st.Errors["queued"] != 1 {
		t.Errorf("stats = %+v; want the wait counted as queued, the breaker closed", st)
	}
}

func TestSpecRender(t *testing.T) {
	var gotURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURL = r.URL.RequestURI()
		_, _ = w.Write([]byte("<p>" + r.URL.Query().Get("q") + "</p>"))
	}))
	defer srv.Close()
	c := newClient(t, Options{})
	local := &composer.Spec{Name: "story", Params: []composer.ParamSpec{{Name: "id", Required: true}, {Name: "q"}},
		Defaults: composer.Settings{Timeout: time.Second, Fresh: time.Minute}, Version: "7", Assets: []string{"/static/s.css"},
		Render: func(context.Context, composer.Params) (templ.Component, error) { panic("local called") }}
	s, err := c.Spec(Config{Name: "story", URL: srv.URL + "/story/{id}?q={q}", Local: local})
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != "7" || s.Defaults != local.Defaults || len(s.Assets) != 1 || len(s.Params) != 2 {
		t.Errorf("spec = %+v", s)
	}
	p, err := composer.NewParams(s, map[string]string{"id": "a/b", "q": "x&y=z"})
	if err != nil {
		t.Fatal(err)
	}
	comp, err := s.Render(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if raw := comp.(*composer.Raw); string(raw.HTML) != "<p>x&amp;y=z</p>" && string(raw.HTML) != "<p>x&y=z</p>" {
		t.Errorf("HTML = %q", raw.HTML)
	}
	if gotURL != "/story/a%2Fb?q=x%26y%3Dz" {
		t.Errorf("URL = %q", gotURL)
	}
	if _, err := c.Spec(Config{Name: "ghost", URL: srv.URL + "/{id}"}); err == nil {
		t.Error("a placeholder without a declared param was accepted")
	}
}

// TestReadBody checks the body reader at the edges of its two ways: with
// a Content-Length (exact, shorter, longer, empty) and without (under,
// at and over the cap).
func TestReadBody(t *testing.T) {
	const max = 8
	tests := []struct {
		name    string
		body    string
		n       int64
		want    string
		wantErr error // nil, or what errors.Is must find
	}{
		{"exact", "<p>x</p>", 8, "<p>x</p>", nil},
		{"shorter than its length", "<p>", 8, "", io.ErrUnexpectedEOF},
		{"longer than its length", "<p>x</p>", 3, "", errLonger},
		{"empty", "", 0, "", nil},
		{"empty, but not", "x", 0, "", errLonger},
		{"no length", "<p>x</p>", -1, "<p>x</p>", nil},
		{"no length, empty", "", -1, "", nil},
		{"no length, over the cap", "<p>xx</p>", -1, "", errOversized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBody(strings.NewReader(tt.body), tt.n, max)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("body = %q, want %q", got, tt.want)
			}
			if err == nil && cap(got) != len(got) {
				t.Errorf("body has cap %d for %d bytes: it keeps spare room", cap(got), len(got))
			}
		})
	}
}
