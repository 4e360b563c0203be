package remote_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/internal/htmltest"
	"github.com/broadsheet/broadsheet/internal/wait"
	"github.com/broadsheet/broadsheet/metrics"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/web"
)

// The hostile services of this file answer in every way a fragment
// service written by another team might, on loopback: through net/http's
// server where it can misbehave enough, else byte for byte over a raw
// connection. Each case says what a fetch gives (a result, or an error of
// a kind, and whether that error counts against the host's breaker); the
// tests check it for a fetch alone (TestHostileAnswers), for a page that
// includes every case at once (TestHostilePage: the page is a whole 200
// and its structure unharmed, each include shows its content or its
// fallback, /_/fragments/NAME counts each failure by kind), and for a
// service that turns hostile after a good answer (TestHostileRefreshKeepsStale).

// hostileMax is the size cap of the clients of these tests.
const hostileMax = 4 << 10

// hostileCase is one way of answering.
type hostileCase struct {
	name string
	h    http.HandlerFunc // served by net/http, or
	raw  func(net.Conn)   // written by hand on each connection accepted
	keep bool             // raw: the service holds the connection until the client closes it
	hang bool             // the service does not answer in time: the fetch's deadline is short

	kind     string // the fetch's error kind; "" for a result
	status   int    // the error's status
	host     bool   // the error counts against the host's breaker
	notFound bool   // the error is composer.ErrNotFound
	html     string // the result's HTML
	fresh    remote.Freshness
	assets   []string // the result's assets (only site paths and the service's own origin reach a page)
}

// content is the HTML of the well-formed answers; secret is in every body
// that must never reach a page.
const (
	content = `<p class="ok">fine</p>`
	secret  = `<p>secret body</p>`
)

// gzipBomb is a gzip stream within the size cap that inflates to 500
// times it.
var gzipBomb = func() []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(bytes.Repeat([]byte("<p>"), 500*hostileMax/3))
	_ = zw.Close()
	if b.Len() > hostileMax {
		panic("the bomb is over the cap")
	}
	return b.Bytes()
}()

func deflated(s string) []byte {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	_, _ = io.WriteString(zw, s)
	_ = zw.Close()
	return b.Bytes()
}

// answer returns a handler that sets the headers (name, value pairs) and
// writes status and body.
func answer(status int, body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i+1] == "" {
				w.Header()[hdr[i]] = nil // not sent at all
				continue
			}
			w.Header().Add(hdr[i], hdr[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// writes returns a raw answer: the request head is read, then s written.
func writes(s string) func(net.Conn) {
	return func(c net.Conn) {
		readHead(c)
		_, _ = io.WriteString(c, s)
	}
}

// readHead reads a request head from c, up to its empty line.
func readHead(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			return
		}
	}
}

var (
	year     = composer.MaxOwnLifetime
	known    = remote.Freshness{Known: true} // uncacheable
	httpDate = func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	dateNow  = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) // the services' Date
)

var hostileCases = []hostileCase{
	// Content codings: the client asks for none (Accept-Encoding:
	// identity) and inflates none.
	{name: "gzip bomb", h: answer(200, string(gzipBomb), "Content-Encoding", "gzip", "Content-Type", "text/html"), kind: "encoded"},
	{name: "br", h: answer(200, content, "Content-Encoding", "br"), kind: "encoded"},
	{name: "deflate", h: answer(200, string(deflated(content)), "Content-Encoding", "deflate"), kind: "encoded"},
	{name: "unknown coding", h: answer(200, content, "Content-Encoding", "x-custom, identity"), kind: "encoded"},
	{name: "identity", h: answer(200, content, "Content-Encoding", "identity"), html: content},
	{name: "gzip unless told not to", h: func(w http.ResponseWriter, r *http.Request) {
		// RFC 9110: without Accept-Encoding, any coding will do.
		if ae := r.Header.Get("Accept-Encoding"); ae == "" || strings.Contains(ae, "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = io.WriteString(zw, content)
			_ = zw.Close()
			return
		}
		_, _ = io.WriteString(w, content)
	}, html: content},

	// Types and bytes that are not HTML text.
	{name: "png", h: answer(200, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "Content-Type", "image/png"), kind: "not_html"},
	{name: "png type, HTML body", h: answer(200, secret, "Content-Type", "image/png"), kind: "not_html"},
	{name: "json", h: answer(200, `{"html": "<p>secret</p>"}`, "Content-Type", "application/json"), kind: "not_html"},
	{name: "octet-stream", h: answer(200, secret, "Content-Type", "application/octet-stream"), kind: "not_html"},
	{name: "two types", h: answer(200, secret, "Content-Type", "text/html", "Content-Type", "image/svg+xml"), kind: "not_html"},
	{name: "no type", h: answer(200, content, "Content-Type", ""), html: content},
	{name: "text/plain", h: answer(200, "<span>plain</span>", "Content-Type", "text/plain; charset=utf-8"), html: "<span>plain</span>"},
	{name: "xhtml", h: answer(200, content, "Content-Type", "application/xhtml+xml"), html: content},
	{name: "NUL bytes", h: answer(200, "<p>secret\x00\x00</p>", "Content-Type", "text/html; charset=utf-8"), kind: "not_html"},
	{name: "UTF-16", h: answer(200, "<\x00p\x00>\x00s\x00<\x00/\x00p\x00>\x00", "Content-Type", "text/html; charset=utf-16le"), kind: "not_html"},
	{name: "C0 controls, dropped", h: answer(200, "<p>fine\x1b[2J\x0b\x7f text</p>", "Content-Type", "text/html; charset=utf-8"), html: "<p>fine[2J text</p>"},
	{name: "C1 control, dropped", h: answer(200, "<p>fine\u0085\u00a0café</p>\x01", "Content-Type", "text/html; charset=utf-8"), html: "<p>fine\u00a0café</p>"},
	{name: "white space and Latin-1", h: answer(200, "<p>\t£1\r\n\f©\u00a0é</p>", "Content-Type", "text/html; charset=utf-8"), html: "<p>\t£1\r\n\f©\u00a0é</p>"},

	// Headers.
	{name: "header flood under the limit", h: func(w http.ResponseWriter, r *http.Request) {
		for i := range 1000 { // 36 KiB
			w.Header().Set(fmt.Sprintf("X-Flood-%d", i), "aaaaaaaaaaaaaaaaaaaa")
		}
		_, _ = io.WriteString(w, content)
	}, html: content},
	{name: "a header over the limit", h: answer(200, secret, "X-Huge", strings.Repeat("a", 100<<10)), kind: "network", host: true},
	{name: "1xx without end", raw: func(c net.Conn) {
		readHead(c)
		for {
			if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style\r\n\r\n"); err != nil {
				return
			}
		}
	}, kind: "network", host: true},
	{name: "1xx then 200", raw: writes(strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: <javascript:alert(1)>; rel=preload; as=script\r\n\r\n", 3) +
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 22\r\nConnection: close\r\n\r\n" + content), html: content},
	{name: "101 then quiet", raw: writes("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: secret\r\n\r\n"), keep: true,
		kind: "status", status: 101},

	// Bodies and connections.
	{name: "HTTP/1.0 to EOF", raw: writes("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + content), html: content},
	{name: "HTTP/1.0 to EOF, over the cap", raw: writes("HTTP/1.0 200 OK\r\n\r\n" + strings.Repeat("<p>secret</p>", hostileMax)), kind: "oversized"},
	{name: "shorter than its length", raw: writes("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + secret), kind: "network", host: true},
	{name: "chunk cut off", raw: writes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + secret), kind: "network", host: true},
	{name: "malformed chunk size", raw: writes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + secret + "\r\n0\r\n\r\n"), kind: "network", host: true},
	{name: "Transfer-Encoding: gzip", raw: writes("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n16\r\n" + content + "\r\n0\r\n\r\n"),
		kind: "network", host: true},
	{name: "invalid Content-Length", raw: writes("HTTP/1.1 200 OK\r\nContent-Length: -22\r\n\r\n" + content), kind: "network", host: true},
	{name: "two Content-Lengths", raw: writes("HTTP/1.1 200 OK\r\nContent-Length: 22\r\nContent-Length: 5\r\n\r\n" + content),
		kind: "network", host: true},
	{name: "reset mid-body", raw: func(c net.Conn) {
		readHead(c)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"+secret)
		_ = c.(*net.TCPConn).SetLinger(0) // its close sends a reset
	}, kind: "network", host: true},
	{name: "closed without an answer", raw: readHead, kind: "network", host: true},
	{name: "not HTTP", raw: writes("SSH-2.0-OpenSSH_9.6\r\n"), kind: "network", host: true},
	{name: "never answers", raw: readHead, keep: true, hang: true, kind: "timeout"},
	{name: "answers before reading the request", raw: func(c net.Conn) {
		_, _ = c.Read(make([]byte, 1)) // the request has begun: it is this one's answer
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 22\r\nConnection: close\r\n\r\n"+content)
	}, keep: true, html: content},

	// Statuses.
	{name: "204", h: answer(204, ""), html: ""},
	{name: "206 without a range asked", h: answer(206, secret, "Content-Range", "bytes 0-17/100"), kind: "status", status: 206},
	{name: "202", h: answer(202, secret), kind: "status", status: 202},
	{name: "304 without validators", h: answer(304, ""), kind: "status", status: 304},
	{name: "302 without Location", h: answer(302, secret), kind: "redirect", status: 302},
	{name: "429 with Retry-After", h: answer(429, secret, "Retry-After", "99999999"), kind: "status", status: 429},
	{name: "503 with Retry-After", h: answer(503, secret, "Retry-After", "3600"), kind: "status", status: 503, host: true},
	{name: "404", h: answer(404, secret), kind: "status", status: 404, notFound: true},
	{name: "410", h: answer(410, secret), kind: "status", status: 410, notFound: true},
	{name: "600", h: answer(600, secret), kind: "status", status: 600},
	{name: "999", h: answer(999, secret), kind: "status", status: 999},
	{name: "099", raw: writes("HTTP/1.1 099 Nonsense\r\nContent-Length: 0\r\n\r\n"), kind: "status", status: 99},

	// Caching headers: never fresher than the service said, never more
	// than a year, never stored when it sets a cookie or varies on
	// everything.
	{name: "max-age of millennia", h: answer(200, content, "Cache-Control", "max-age=99999999999999"), html: content,
		fresh: remote.Freshness{Known: true, Fresh: year}},
	{name: "negative max-age", h: answer(200, content, "Cache-Control", "max-age=-1"), html: content, fresh: known},
	{name: "duplicated max-age", h: answer(200, content, "Cache-Control", "max-age=60", "Cache-Control", "max-age=99999"), html: content,
		fresh: remote.Freshness{Known: true, Fresh: time.Minute}},
	{name: "conflicting directives", h: answer(200, content, "Cache-Control", "public, max-age=60, no-cache"), html: content, fresh: known},
	{name: "Expires in the past", h: answer(200, content, "Date", httpDate(dateNow), "Expires", "Thu, 01 Jan 1970 00:00:00 GMT"), html: content,
		fresh: known},
	{name: "Expires far ahead", h: answer(200, content, "Date", httpDate(dateNow), "Expires", "Fri, 31 Dec 9999 23:59:59 GMT"), html: content,
		fresh: remote.Freshness{Known: true, Fresh: year}},
	{name: "Expires a minute after Date", h: answer(200, content, "Date", httpDate(dateNow), "Expires", httpDate(dateNow.Add(time.Minute))),
		html: content, fresh: remote.Freshness{Known: true, Fresh: time.Minute}},
	{name: "Vary: *", h: answer(200, content, "Cache-Control", "max-age=60", "Vary", "*"), html: content, fresh: known},
	{name: "Set-Cookie", h: answer(200, content, "Cache-Control", "public, max-age=60", "Set-Cookie", "session=secret; Path=/"), html: content,
		fresh: known},
	{name: "hostile Link", h: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<javascript:alert(1)>; rel=preload; as=script, <https://evil.example/x.js>; rel=preload; as=script, `+
			`<data:text/css,x>; rel=stylesheet, </static/site.css>; rel=stylesheet`)
		_, _ = io.WriteString(w, content)
	}, html: content, assets: []string{"https://evil.example/x.js", "/static/site.css"}},
}

// rawService is a fragment service on loopback that writes its answers by
// hand, byte for byte, as net/http's server never would. Each connection
// it accepts is given to answer; then the service closes it, or with keep
// holds it until the client closes it, counting the connections the
// client closed (hungUp).
type rawService struct {
	ln     net.Listener
	answer func(net.Conn)
	keep   bool
	hungUp atomic.Int64
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// newRawService starts a rawService, stopped when the test ends.
func newRawService(t testing.TB, answer func(net.Conn), keep bool) *rawService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawService{ln: ln, answer: answer, keep: keep, conns: map[net.Conn]bool{}}
	s.wg.Go(s.serve)
	t.Cleanup(s.close)
	return s
}

func (s *rawService) URL() string { return "http://" + s.ln.Addr().String() }

func (s *rawService) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.answer(c)
			if !s.keep {
				return
			}
			// Until the client closes (an end of file or a reset); the
			// deadline is a guard against a client that never does.
			_ = c.SetReadDeadline(time.Now().Add(wait.Patience))
			if _, err := io.Copy(io.Discard, c); err == nil || !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
				s.hungUp.Add(1)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// close stops listening, closes the connections still open and waits for
// every goroutine of s.
func (s *rawService) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// noLeaks checks, once the test and its cleanups are done, that every
// goroutine it started has ended.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// serveCase starts tc's service and returns its fragment's URL, and its
// rawService (nil for a net/http one).
func serveCase(t testing.TB, tc hostileCase) (string, *rawService) {
	t.Helper()
	if tc.raw != nil {
		s := newRawService(t, tc.raw, tc.keep)
		return s.URL() + "/f", s
	}
	srv := httptest.NewServer(tc.h)
	t.Cleanup(srv.Close)
	return srv.URL + "/f", nil
}

// TestHostileAnswers fetches each hostile answer once: the result or the
// error's kind and status, the host's counters, its breaker (open after
// one host failure, closed after anything else), and no connection or
// goroutine left behind.
func TestHostileAnswers(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			u, raw := serveCase(t, tc)
			c := remote.New(remote.Options{MaxBodyBytes: hostileMax, BreakerFailures: 1, Logger: quiet})
			defer c.Close()
			// A hanging service ends the fetch at its deadline; any other
			// ends it at once, and a fetch that waits for its deadline
			// instead shows as a timeout.
			d := 20 * time.Second
			if tc.hang {
				d = 50 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			res, err := c.Fetch(ctx, u)
			checkFetch(t, tc, res, err)
			st := c.Stats()[0]
			wantErrs := map[string]int64{}
			if tc.kind != "" {
				wantErrs[tc.kind] = 1
			}
			for k, n := range st.Errors {
				if n != wantErrs[k] {
					t.Errorf("host errors %v, want %v", st.Errors, wantErrs)
					break
				}
			}
			if breaker := map[bool]string{true: "open", false: "closed"}[tc.host]; st.Breaker != breaker {
				t.Errorf("breaker %s, want %s: counted against the host %v, want %v", st.Breaker, breaker, !tc.host, tc.host)
			}
			if raw != nil && tc.keep {
				// The client lets go of the connection: at once when it
				// gave up on it, when its idle connections close else.
				c.Close()
				wait.For(t, "the client to close its connection", func() bool { return raw.hungUp.Load() == 1 })
			}
		})
	}
}

// checkFetch checks a fetch's result or error against tc.
func checkFetch(t *testing.T, tc hostileCase, res *composer.Raw, err error) {
	t.Helper()
	if tc.kind == "" {
		if err != nil {
			t.Fatalf("err = %v, want %q", err, tc.html)
		}
		if string(res.HTML) != tc.html {
			t.Errorf("HTML = %q, want %q", res.HTML, tc.html)
		}
		if got := (remote.Freshness{Known: res.HasFreshness, Fresh: res.Fresh, Stale: res.Stale}); got != tc.fresh {
			t.Errorf("freshness %+v, want %+v", got, tc.fresh)
		}
		if !slices.Equal(res.Assets, tc.assets) {
			t.Errorf("assets %q, want %q", res.Assets, tc.assets)
		}
		return
	}
	if res != nil {
		t.Errorf("a result: %q", res.HTML)
	}
	var e *remote.Error
	if !errors.As(err, &e) || e.Kind.String() != tc.kind || e.Status != tc.status {
		t.Fatalf("err = %v, want kind %s status %d", err, tc.kind, tc.status)
	}
	if errors.Is(err, composer.ErrNotFound) != tc.notFound {
		t.Errorf("err = %v: not found is %v, want %v", err, !tc.notFound, tc.notFound)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error's text says what the service sent: %v", err)
	}
}

// hostileYAML is a site whose page /hostile includes each case's fragment
// (h00, h01, …, of URLs urls, in order) in its main column and the footer
// after them. A hanging case's fragment has a timeout of 150ms, the
// others 5s (none waits for it); each has a fallback naming it.
func hostileYAML(cases []hostileCase, urls []string) string {
	var b strings.Builder
	b.WriteString("fragments:\n")
	for i, tc := range cases {
		timeout := "5s"
		if tc.hang {
			timeout = "150ms"
		}
		fmt.Fprintf(&b, "  h%02d:\n    remote: {url: %q, params: []}\n    timeout: %s\n    fallback: '<p class=\"fallback\">h%02d</p>'\n",
			i, urls[i], timeout, i)
	}
	b.WriteString("pages:\n  - name: hostile\n    path: /hostile\n    layout: plain\n    budget: 20s\n    includes:\n")
	for i := range cases {
		fmt.Fprintf(&b, "      - {fragment: h%02d, slot: main}\n", i)
	}
	b.WriteString("      - {fragment: footer, slot: footer}\n")
	return b.String()
}

// adminToken is the admin token of hostileServer: its requests show the
// debug overlay and the explorer's error texts.
const adminToken = "hostile-admin-token"

// hostileServer serves the site of hostileYAML(cases, urls) through
// web's whole handler, with the explorer's figures, and returns it with
// the Client that fetches its remote fragments.
func hostileServer(t *testing.T, cases []hostileCase, urls []string) (*remote.Client, *httptest.Server) {
	t.Helper()
	c := remote.New(remote.Options{MaxBodyBytes: hostileMax, Logger: quiet})
	t.Cleanup(c.Close)
	site := newSite(t, c, hostileYAML(cases, urls))
	obs := metrics.New(site, metrics.Options{})
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage, Observer: obs, Logger: quiet})
	srv := web.NewWithOptions(comp, web.Options{Logger: slog.New(slog.DiscardHandler), Stats: obs, AdminToken: adminToken})
	srv.SetReady(true)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		comp.Close()
	})
	return c, ts
}

// hostilePage gets the page of hostileServer ts with its debug overlay,
// checks it (checkPage) and returns the outcome and the inner HTML of
// each include, by fragment.
func hostilePage(t *testing.T, ts *httptest.Server) map[string][2]string {
	t.Helper()
	status, page := adminGet(t, ts.URL+"/hostile?debug=1")
	checkPage(t, status, page)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	doc.Find("bs-frag").Each(func(_ int, s *goquery.Selection) {
		inner, _ := s.Html()
		out[s.AttrOr("data-fragment", "")] = [2]string{s.AttrOr("data-outcome", ""), inner}
	})
	return out
}

// adminClient keeps no connection open.
var adminClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// adminGet GETs u as the admin and returns its status and body.
func adminGet(t *testing.T, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := adminClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// checkPage checks what a page must be whatever its includes did: a 200,
// whole, text without control characters, nothing of what must never
// reach it, its footer where the layout put it.
func checkPage(t *testing.T, status int, page string) {
	t.Helper()
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if !strings.HasSuffix(strings.TrimSpace(page), "</html>") {
		t.Errorf("the page is not whole: it ends %q", page[max(0, len(page)-80):])
	}
	if !utf8.ValidString(page) {
		t.Error("the page is not UTF-8")
	}
	if i := strings.IndexFunc(page, func(r rune) bool {
		return r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r >= 0x7f && r <= 0x9f
	}); i >= 0 {
		t.Errorf("a control character in the page: %q", page[max(0, i-40):min(len(page), i+40)])
	}
	for _, bad := range []string{"secret", "javascript:", "evil.example", "data:text/css"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	if got := htmltest.Ancestors(page, htmltest.Element("footer", "bs-footer")); got != "body<html" {
		t.Errorf("the footer's ancestors are %s, want body<html", got)
	}
}

// TestHostilePage serves a page that includes every hostile case at once,
// twice: each time a whole 200 whose structure is the layout's; each
// include shows its content (a hit the second time when it may be
// cached), or its fallback with the outcome error or timeout; the
// explorer's page of each fragment counts its failures and names their
// kind; the Client counts them by kind for the fragment.
func TestHostilePage(t *testing.T) {
	noLeaks(t)
	feed.Configure(feed.Options{})
	urls := make([]string, len(hostileCases))
	for i, tc := range hostileCases {
		urls[i], _ = serveCase(t, tc)
	}
	c, ts := hostileServer(t, hostileCases, urls)
	for round := range 2 {
		got := hostilePage(t, ts)
		for i, tc := range hostileCases {
			name := fmt.Sprintf("h%02d", i)
			outcome, inner := got[name][0], got[name][1]
			want, wantHTML := []string{"miss"}, tc.html
			switch {
			case tc.hang:
				// The include's deadline and its call's are one instant:
				// the composer sees either end first.
				want, wantHTML = []string{"timeout", "error"}, fmt.Sprintf(`<p class="fallback">%s</p>`, name)
			case tc.kind != "":
				want, wantHTML = []string{"error"}, fmt.Sprintf(`<p class="fallback">%s</p>`, name)
			case round == 1 && tc.fresh.Fresh > 0:
				want = []string{"hit"}
			}
			if !slices.Contains(want, outcome) || !strings.Contains(inner, strings.ReplaceAll(wantHTML, "\r", "")) {
				t.Errorf("round %d, %s (%s): outcome %q, HTML %q; want %q, %q", round, tc.name, name, outcome, inner, want, wantHTML)
			}
		}
	}
	stats := map[string]remote.FragmentStats{}
	for i, tc := range hostileCases {
		name := fmt.Sprintf("h%02d", i)
		if tc.kind == "" {
			continue
		}
		wait.For(t, name+"'s two failures to be counted", func() bool {
			for _, fs := range c.FragmentStats() {
				stats[fs.Fragment] = fs
			}
			return stats[name].Errors[tc.kind] == 2
		})
		_, body := adminGet(t, ts.URL+"/_/fragments/"+name)
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if n := outcomeCount(doc, "error") + outcomeCount(doc, "timeout"); n != 2 {
			t.Errorf("%s (%s): the explorer counts %d errors and timeouts, want 2", tc.name, name, n)
		}
		if last := doc.Find("dt:contains('Last error') + dd code").Text(); !tc.hang && !strings.Contains(last, ": "+tc.kind) {
			t.Errorf("%s (%s): the explorer's last error is %q, want one of kind %s", tc.name, name, last, tc.kind)
		}
	}
}

// outcomeCount reads how many includes the explorer's page doc counts
// with outcome.
func outcomeCount(doc *goquery.Document, outcome string) int {
	var n int
	text := strings.TrimSpace(doc.Find(".bs-outcome--" + outcome).First().Parent().Text())
	if _, err := fmt.Sscanf(text, outcome+" %d", &n); err != nil {
		return -1
	}
	return n
}

// TestHostileRefreshKeepsStale: a service that answers well once and then
// in one of the hostile ways keeps its include on the good answer, served
// stale, while the refreshes' failures are counted by kind.
func TestHostileRefreshKeepsStale(t *testing.T) {
	noLeaks(t)
	feed.Configure(feed.Options{})
	var cases []hostileCase
	for _, tc := range hostileCases {
		if tc.kind != "" && tc.h != nil {
			cases = append(cases, tc)
		}
	}
	urls := make([]string, len(cases))
	for i, tc := range cases {
		var n atomic.Int64
		good := answer(200, fmt.Sprintf(`<p class="good">h%02d</p>`, i), "Cache-Control", "max-age=0, stale-while-revalidate=600")
		urls[i], _ = serveCase(t, hostileCase{h: func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				good(w, r)
				return
			}
			tc.h(w, r)
		}})
	}
	c, ts := hostileServer(t, cases, urls)
	for round := range 3 {
		got := hostilePage(t, ts)
		for i, tc := range cases {
			name := fmt.Sprintf("h%02d", i)
			want := map[bool]string{true: "miss", false: "stale"}[round == 0]
			if o, html := got[name][0], got[name][1]; o != want || html != fmt.Sprintf(`<p class="good">%s</p>`, name) {
				t.Errorf("round %d, %s (%s): outcome %q, HTML %q; want %q and the good answer", round, tc.name, name, o, html, want)
			}
		}
		if round == 0 {
			continue
		}
		// Each page's stale include started a refresh, which failed.
		for i, tc := range cases {
			name := fmt.Sprintf("h%02d", i)
			wait.For(t, name+"'s refresh to fail", func() bool {
				for _, fs := range c.FragmentStats() {
					if fs.Fragment == name {
						return fs.Errors[tc.kind] == int64(round) && fs.InFlight == 0
					}
				}
				return false
			})
		}
	}
}
