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
		if strings.HasSuffix(r.URL.Path, "9") {
			<-r.Context().Done()
			return
		}
		fragAtOnce(w, r)
	})
}

// fragAtOnce answers /frag/{i} at once with small cacheable HTML.
func fragAtOnce(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "max-age=30")
	fmt.Fprintf(w, `<p class="frag">%s</p>`, strings.TrimPrefix(r.URL.Path, "/frag/"))
}

// slowDial dials after sleeping d: a loaded machine's connect, slowed down.
func slowDial(d time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var dialer net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		time.Sleep(d)
		return dialer.DialContext(ctx, network, addr)
	}
}

// serveSite serves site's pages through a composer with opts (and the
// site's layouts), both closed when the test ends, and returns the
// server's URL.
func serveSite(t *testing.T, site *composer.Site, opts composer.Options) string {
	t.Helper()
	opts.Layouts, opts.Logger = templates.Layouts(), quiet
	comp := composer.New(site, opts)
	srv := httptest.NewServer(pageHandler(comp))
	t.Cleanup(func() {
		srv.Close()
		comp.Close()
	})
	return srv.URL
}

// getFlat GETs base's /flat page and returns its body; an error or a
// status other than 200 fails the test (it is safe on any goroutine).
func getFlat(t *testing.T, base string) string {
	resp, err := http.Get(base + "/flat")
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	return string(body)
}

// frags counts the fragments in a page.
func frags(page string) int { return strings.Count(page, `class="frag"`) }

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
	base := serveSite(t, newSite(t, c, flatYAML(svc.URL, 100, "5s")), composer.Options{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				getFlat(t, base)
			}
		})
	}
	wg.Wait()
	for i := range 3 {
		if n := frags(getFlat(t, base)); n != 90 {
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
	base := serveSite(t, site, composer.Options{L1Bytes: -1})
	count := func() int { return frags(getFlat(t, base)) }
	if n := count(); n != 18 {
		t.Fatalf("healthy: %d of 18 fast fragments", n)
	}
	svc.Close() // down: connections refused
	for c.Stats()[0].Breaker != "open" && !t.Failed() {
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
	base := serveSite(t, newSite(t, c, yaml), composer.Options{})
	if n := frags(getFlat(t, base)); n != 0 || t.Failed() {
		t.Fatalf("%d fragments from an unreachable host", n)
	}
	st := c.Stats()
	if len(st) != 1 || st[0].Breaker != "open" || st[0].Errors["network"] == 0 {
		t.Fatalf("after a page of dial timeouts: %+v, want the breaker open on network errors", st)
	}
	before := dials.Load()
	getFlat(t, base)
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
	svc := httptest.NewServer(http.HandlerFunc(fragAtOnce))
	defer svc.Close()
	c := remote.NewDialing(remote.Options{Logger: quiet, MaxConnsPerHost: 8}, slowDial(600*time.Millisecond))
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
			svc := httptest.NewUnstartedServer(http.HandlerFunc(fragAtOnce))
			svc.Config.Protocols = new(http.Protocols)
			svc.Config.Protocols.SetHTTP1(true)
			svc.Config.Protocols.SetUnencryptedHTTP2(true)
			svc.Start()
			defer svc.Close()
			c := remote.NewDialing(remote.Options{Logger: quiet, MaxConnsPerHost: tc.conns, MaxInFlightPerHost: 8}, slowDial(600*time.Millisecond))
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
	page := getFlat(t, serveSite(t, newSite(t, c, yaml), composer.Options{}))
	return frags(page), page
}
