package remote_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/internal/wait"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
)

// flakyService is another team's fragment service: /frag/{i} answers
// small cacheable HTML at once, except every tenth URL, which hangs until
// its client gives up and would say no-store.
func flakyService() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := strings.TrimPrefix(r.URL.Path, "/frag/")
		if strings.HasSuffix(i, "9") {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Cache-Control", "max-age=30")
		fmt.Fprintf(w, `<p class="frag">%s</p>`, i)
	})
}

// flatYAML is a page of n top-level includes of the remote fragment frag
// at base. The fragment's timeout is generous: a loaded test machine
// under -race must not make the fast URLs time out too.
func flatYAML(base string, n int, budget string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site: {budget: %s}\nfragments:\n  frag:\n    remote:\n      url: %q\n      params: [{name: i, required: true, pattern: \"[0-9]{1,4}\"}]\n    timeout: 500ms\n", budget, base+"/frag/{i}")
	b.WriteString("pages:\n  - name: flat\n    path: /flat\n    layout: plain\n    includes:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - {fragment: frag, slot: main, params: {i: \"%d\"}}\n", i)
	}
	return b.String()
}

// TestSlowSiblingsCostNothing: a service whose every tenth URL hangs
// costs pages those includes and nothing else. Concurrent pages from a
// cold start hold every fast fragment once it has been fetched, the
// host's breaker stays closed (a timeout is the URL's, not the host's),
// and the timeouts are counted for the fragment.
func TestSlowSiblingsCostNothing(t *testing.T) {
	svc := httptest.NewServer(flakyService())
	defer svc.Close()
	c := remote.New(remote.Options{Logger: quiet, BreakerFailures: 3})
	defer c.Close()
	comp := composer.New(newSite(t, c, flatYAML(svc.URL, 100, "5s")), composer.Options{Layouts: templates.Layouts(), Logger: quiet})
	defer comp.Close()
	srv := httptest.NewServer(pageHandler(comp))
	defer srv.Close()

	get := func() string {
		resp, err := http.Get(srv.URL + "/flat")
		if err != nil {
			t.Error(err)
			return ""
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return b.String()
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				get()
			}
		})
	}
	wg.Wait()
	for i := range 3 {
		page := get()
		if n := strings.Count(page, `class="frag"`); n != 90 {
			t.Errorf("page %d holds %d of the 90 fast fragments", i, n)
		}
	}
	if st := c.Stats(); len(st) != 1 || st[0].Breaker != "closed" || st[0].Errors["breaker_open"] != 0 || st[0].Errors["timeout"] == 0 {
		t.Errorf("host stats %+v: want the breaker closed, never open, and timeouts counted", st)
	}
	if fs := c.FragmentStats(); len(fs) != 1 || fs[0].Errors["timeout"] == 0 {
		t.Errorf("fragment stats %+v: want its timeouts", fs)
	}
}

// TestDownHostOpensAndRecovers: a host that refuses connections opens its
// breaker (pages go on, from stale entries and fallbacks, without calling
// it), and is used again once it listens again.
func TestDownHostOpensAndRecovers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	svc := &http.Server{Handler: flakyService()}
	go func() { _ = svc.Serve(ln) }()
	c := remote.New(remote.Options{Logger: quiet, BreakerFailures: 3, BreakerOpen: 100 * time.Millisecond})
	defer c.Close()
	site := newSite(t, c, flatYAML("http://"+addr, 20, "2s"))
	site.Fragments["frag"].Settings.Fresh = 0 // every page fetches again
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), Logger: quiet, L1Bytes: -1})
	defer comp.Close()
	srv := httptest.NewServer(pageHandler(comp))
	defer srv.Close()
	count := func() int {
		resp, err := http.Get(srv.URL + "/flat")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return strings.Count(b.String(), `class="frag"`)
	}
	if n := count(); n != 18 {
		t.Fatalf("healthy: %d of 18 fast fragments", n)
	}
	svc.Close() // down: connections refused
	for c.Stats()[0].Breaker != "open" {
		count()
	}
	if n := count(); n != 0 {
		t.Errorf("down: %d fragments", n)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the address was taken meanwhile: %v", err)
	}
	svc = &http.Server{Handler: flakyService()}
	go func() { _ = svc.Serve(ln) }()
	defer svc.Close()
	wait.For(t, "every fragment back", func() bool { return count() == 18 })
}

// TestUnreachableHostOpensBreaker: a host whose connections never
// complete (packets dropped: every dial ends at the dial timeout) is a
// host failure, as Envoy counts a connect timeout among its gateway
// failures, though the call's clock is stopped while it dials: the first
// page pays one dial timeout, its includes fall back, the host's breaker
// opens, and the next page does not dial at all.
func TestUnreachableHostOpensBreaker(t *testing.T) {
	var dials atomic.Int32
	dropped := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		select {
		case <-time.After(300 * time.Millisecond): // as net.Dialer's Timeout ends it
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := remote.NewDialing(remote.Options{Logger: quiet, BreakerFailures: 3, BreakerOpen: time.Minute}, dropped)
	defer c.Close()
	yaml := strings.Replace(flatYAML("http://192.0.2.1:80", 8, "10s"), "timeout: 500ms", "timeout: 50ms", 1)
	comp := composer.New(newSite(t, c, yaml), composer.Options{Layouts: templates.Layouts(), Logger: quiet})
	defer comp.Close()
	srv := httptest.NewServer(pageHandler(comp))
	defer srv.Close()
	page := func() string {
		resp, err := http.Get(srv.URL + "/flat")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return string(body)
	}
	if n := strings.Count(page(), `class="frag"`); n != 0 {
		t.Fatalf("%d fragments from an unreachable host", n)
	}
	st := c.Stats()
	if len(st) != 1 || st[0].Breaker != "open" || st[0].Errors["network"] == 0 {
		t.Fatalf("after a page of dial timeouts: %+v, want the breaker open on network errors", st)
	}
	before := dials.Load()
	page()
	if d := dials.Load(); d != before {
		t.Errorf("the next page dialed %d times, want none (breaker open)", d-before)
	}
	if st := c.Stats(); st[0].Errors["breaker_open"] == 0 {
		t.Errorf("after the next page: %+v, want its calls refused by the breaker", st)
	}
}

// TestHostQueueIsNotTimeout: a page of more includes of one service than
// the host's requests in flight (2 here) waits for the host's slots in
// the composer, within its budget, and every include is served: a call's
// 300 ms timeout starts with its request (100 ms), not while it waits its
// turn (up to 500 ms).
func TestHostQueueIsNotTimeout(t *testing.T) {
	var mu sync.Mutex
	n, peak := 0, 0
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		peak = max(peak, n)
		mu.Unlock()
		time.Sleep(100 * time.Millisecond) // the service's own work
		mu.Lock()
		n--
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=30")
		fmt.Fprintf(w, `<p class="frag">%s</p>`, strings.TrimPrefix(r.URL.Path, "/frag/"))
	}))
	defer svc.Close()
	c := remote.New(remote.Options{Logger: quiet, MaxConnsPerHost: 2})
	defer c.Close()
	if got, body := firstFlatPage(t, c, svc.URL, 12, "300ms", ""); got != 12 {
		t.Errorf("%d of 12 includes served:\n%s", got, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > 2 {
		t.Errorf("%d requests in flight at once, want at most 2", peak)
	}
}

// TestConnectingIsNotTimeout: the time a new connection to the service
// takes is not the fragment's: a cold page whose every call must first
// connect, for 600 ms (a loaded machine's first page, slowed down),
// serves every include of a service that answers at once, under a 300 ms
// timeout.
func TestConnectingIsNotTimeout(t *testing.T) {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=30")
		fmt.Fprintf(w, `<p class="frag">%s</p>`, strings.TrimPrefix(r.URL.Path, "/frag/"))
	}))
	defer svc.Close()
	var d net.Dialer
	slow := func(ctx context.Context, network, addr string) (net.Conn, error) {
		time.Sleep(600 * time.Millisecond)
		return d.DialContext(ctx, network, addr)
	}
	c := remote.NewDialing(remote.Options{Logger: quiet, MaxConnsPerHost: 8}, slow)
	defer c.Close()
	if got, body := firstFlatPage(t, c, svc.URL, 8, "300ms", ""); got != 8 {
		t.Errorf("%d of 8 includes served:\n%s", got, body)
	}
}

// TestWaitingForAConnectionIsNotTimeout: nor is the time a request waits
// for a connection another request is making — the page's requests to an
// h2c service share one or two connections, and over HTTP/1.1 a host may
// have fewer connections than requests in flight. Eight includes, one slow
// connection (600 ms) to make, a 300 ms timeout: every include is served.
func TestWaitingForAConnectionIsNotTimeout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h2c   bool
		conns int
	}{{"HTTP/1.1, one connection", false, 1}, {"h2c", true, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			svc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=30")
				fmt.Fprintf(w, `<p class="frag">%s</p>`, strings.TrimPrefix(r.URL.Path, "/frag/"))
			}))
			svc.Config.Protocols = new(http.Protocols)
			svc.Config.Protocols.SetHTTP1(true)
			svc.Config.Protocols.SetUnencryptedHTTP2(true)
			svc.Start()
			defer svc.Close()
			var d net.Dialer
			slow := func(ctx context.Context, network, addr string) (net.Conn, error) {
				time.Sleep(600 * time.Millisecond)
				return d.DialContext(ctx, network, addr)
			}
			c := remote.NewDialing(remote.Options{Logger: quiet, MaxConnsPerHost: tc.conns, MaxInFlightPerHost: 8}, slow)
			defer c.Close()
			extra := ""
			if tc.h2c {
				extra = "      h2c: true\n"
			}
			if got, body := firstFlatPage(t, c, svc.URL, 8, "300ms", extra); got != 8 {
				t.Errorf("%d of 8 includes served:\n%s", got, body)
			}
		})
	}
}

// firstFlatPage serves the flat page of n includes of the service at base
// (flatYAML, with timeout, and extra lines in its remote section) from a
// fresh composer through c, and returns how many of its includes the first
// page holds, and the page.
func firstFlatPage(t *testing.T, c *remote.Client, base string, n int, timeout, extra string) (int, string) {
	t.Helper()
	yaml := strings.Replace(flatYAML(base, n, "10s"), "timeout: 500ms", "timeout: "+timeout, 1)
	yaml = strings.Replace(yaml, "      params:", extra+"      params:", 1)
	comp := composer.New(newSite(t, c, yaml), composer.Options{Layouts: templates.Layouts(), Logger: quiet})
	defer comp.Close()
	srv := httptest.NewServer(pageHandler(comp))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/flat")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Count(string(body), `class="frag"`), string(body)
}
