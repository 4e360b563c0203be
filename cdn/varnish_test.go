package cdn

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/events"
	"github.com/broadsheet/broadsheet/web"
)

// The Varnish configuration shipped for deployments, used as is but for
// its backend's address.
const vclFile = "../deploy/varnish/broadsheet.vcl"

// league is the test's source of scores.
type league struct {
	mu    sync.Mutex
	goals map[string]int
}

func (l *league) goal(m string) {
	l.mu.Lock()
	l.goals[m]++
	l.mu.Unlock()
}

func (l *league) site() *composer.Site {
	score := &composer.Spec{Name: "score", Version: "1",
		Params: []composer.ParamSpec{{Name: "match", Required: true, Pattern: `m[0-9]+`}},
		// Long TTLs: only events make a goal show.
		Defaults: composer.Settings{Timeout: time.Second, Fresh: time.Hour, Stale: time.Hour},
		Events:   []composer.EventDep{{Topic: "match.updated"}},
		Render: func(_ context.Context, p composer.Params) (templ.Component, error) {
			l.mu.Lock()
			g := l.goals[p.Get("match")]
			l.mu.Unlock()
			return raw(fmt.Sprintf("<li>%s:%d</li>", p.Get("match"), g)), nil
		}}
	mine := &composer.Spec{Name: "my-teams", Version: "1", NeedsReader: true,
		Defaults: composer.Settings{Timeout: time.Second},
		Render: func(ctx context.Context, _ composer.Params) (templ.Component, error) {
			return raw("<p>teams of " + composer.ReaderFrom(ctx) + "</p>"), nil
		}}
	s := &composer.Site{Limits: composer.DefaultLimits, Fragments: map[string]*composer.Fragment{
		"score": {Spec: score, Settings: score.Defaults}, "my-teams": {Spec: mine, Settings: mine.Defaults}}}
	inc := func(m string) *composer.PageInclude {
		return &composer.PageInclude{Fragment: "score", Slot: "main", Params: []composer.Binding{{Name: "match", Value: m}}}
	}
	s.Pages = []*composer.Page{
		{Name: "scores", Path: "/scores", Layout: "l", Includes: []*composer.PageInclude{inc("m1"), inc("m2")}},
		{Name: "front", Path: "/", Layout: "l", Includes: []*composer.PageInclude{inc("m1"), {Fragment: "my-teams", Slot: "main"}}},
	}
	return s
}

func raw(s string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

var layouts = map[string]composer.Layout{"l": func(v *composer.View) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "<!doctype html><html><head><title>t</title></head><body><ul>")
		v.Slot("main").Render(ctx, w)
		_, err := io.WriteString(w, "</ul></body></html>")
		return err
	})
}}

// varnish is a varnishd this test started.
type varnish struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startVarnishAt runs varnishd in the foreground on addr (a free loopback
// port),
// with the shipped VCL pointed at backend, and stops it (by its PID) when
// the test ends. It skips the test where varnishd is not installed, unless
// in CI (CI=true), where scripts/test.sh installs it.
func startVarnishAt(t *testing.T, backend, addr string) *varnish {
	t.Helper()
	bin, err := exec.LookPath("varnishd")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("varnishd is not installed (apt-get install varnish varnish-modules)")
		}
		t.Fatal("varnishd is not installed: scripts/test.sh installs it")
	}
	vcl, err := os.ReadFile(vclFile)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(backend)
	re := regexp.MustCompile(`(?s)(backend default \{\s*\.host = )"[^"]*";(\s*\.port = )"[^"]*";`)
	if !re.Match(vcl) {
		t.Fatalf("%s: no backend default block with .host and .port", vclFile)
	}
	vcl = re.ReplaceAll(vcl, []byte(`${1}"`+host+`";${2}"`+port+`";`))
	dir := t.TempDir()
	path := filepath.Join(dir, "broadsheet.vcl")
	if err := os.WriteFile(path, vcl, 0o644); err != nil {
		t.Fatal(err)
	}
	v := &varnish{addr: addr, done: make(chan struct{})}
	var out bytes.Buffer
	v.cmd = exec.Command(bin, "-F", "-j", "none", "-n", filepath.Join(dir, "work"), "-a", addr, "-f", path,
		"-s", "malloc,32m", "-T", "none", "-p", "default_grace=0s")
	v.cmd.Stdout, v.cmd.Stderr = &out, &out
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = v.cmd.Wait(); close(v.done) }()
	t.Cleanup(func() {
		_ = v.cmd.Process.Signal(syscall.SIGTERM) // the manager stops its child
		select {
		case <-v.done:
		case <-time.After(10 * time.Second):
			_ = v.cmd.Process.Kill()
			<-v.done
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-v.done:
			t.Fatalf("varnishd exited: %s", out.String())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("varnishd did not listen on %s: %s", addr, out.String())
		}
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestVarnishPurgedByEvent runs the composer behind the shipped Varnish
// configuration: a page Varnish cached is served from its cache until a
// match.updated event changes one of its scores, then shows the new
// score; pages made for a signed-in reader, or holding a per-reader
// include, are never stored.
func TestVarnishPurgedByEvent(t *testing.T) {
	varnishAddr := freeAddr(t)
	purger, err := New("http://"+varnishAddr+"/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer purger.Close()
	l := &league{goals: map[string]int{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	comp := composer.New(l.site(), composer.Options{Layouts: layouts, Purger: purger, Logger: log})
	defer comp.Close()
	h := events.NewHandler(comp, nil, log)
	defer h.Close()
	var backendHits atomic.Int64
	ws := web.New(comp, log)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendHits.Add(1)
		ws.ServeHTTP(w, r)
	}))
	defer backend.Close()

	v := startVarnishAt(t, backend.Listener.Addr().String(), varnishAddr)
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path, cookie string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	front := "http://" + v.addr

	// The first request makes the page (not cacheable yet: "no-store");
	// the next, served from the composer's cache, is public and stored.
	for i := 0; ; i++ {
		res, _ := get(front, "/scores", "")
		if res.Header.Get("X-Cache") == "HIT" {
			break
		}
		if i == 20 {
			t.Fatalf("the scores page was never served from Varnish's cache: Cache-Control %q", res.Header.Get("Cache-Control"))
		}
	}
	before := backendHits.Load()
	res, body := get(front, "/scores", "")
	if res.Header.Get("X-Cache") != "HIT" || backendHits.Load() != before || !strings.Contains(body, "<li>m1:0</li>") {
		t.Fatalf("cached page: %s %q", res.Header.Get("X-Cache"), body)
	}
	if res.Header.Get("xkey") != "" || res.Header.Get("Surrogate-Key") != "" {
		t.Errorf("surrogate keys reached the client: %v", res.Header)
	}

	// A goal: the event refreshes m1, the purger drops the page at
	// Varnish, and the next request through it shows the new score.
	l.goal("m1")
	published := time.Now()
	applied := make(chan struct{})
	h.Handle(events.Event{Topic: "match.updated", Params: map[string]string{"match": "m1"}, At: published}, func() { close(applied) })
	<-applied
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := purger.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	res, body = get(front, "/scores", "")
	visible := time.Since(published)
	if !strings.Contains(body, "<li>m1:1</li>") || !strings.Contains(body, "<li>m2:0</li>") || res.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("after the goal: %s %q", res.Header.Get("X-Cache"), body)
	}
	t.Logf("match.updated to the new score through Varnish: %v", visible)
	if purger.Stats().Failed.Load() != 0 {
		t.Fatalf("%d purges failed", purger.Stats().Failed.Load())
	}

	// A signed-in reader's pages go to the composer every time, and an
	// anonymous reader never gets them; a page with a per-reader include
	// is never stored, whoever asks.
	form := url.Values{"name": {"ann"}}
	sres, err := client.PostForm(backend.URL+"/account", form)
	if err != nil {
		t.Fatal(err)
	}
	sres.Body.Close()
	var cookie string
	for _, c := range sres.Cookies() {
		if c.Name == "bs_reader" {
			cookie = c.Name + "=" + c.Value + "; _ga=GA1.2.3"
		}
	}
	if cookie == "" {
		t.Fatalf("no reader cookie: %d %v", sres.StatusCode, sres.Header)
	}
	for _, path := range []string{"/", "/scores"} {
		for range 3 {
			before := backendHits.Load()
			res, body := get(front, path, cookie)
			if res.Header.Get("X-Cache") != "MISS" || backendHits.Load() != before+1 || res.Header.Get("Cache-Control") != "private, no-store" {
				t.Fatalf("signed-in %s: %s, Cache-Control %q, backend hits %d→%d", path, res.Header.Get("X-Cache"), res.Header.Get("Cache-Control"), before, backendHits.Load())
			}
			if path == "/" && !strings.Contains(body, "teams of ann") {
				t.Fatalf("signed-in front page: %q", body)
			}
		}
	}
	for range 3 {
		before := backendHits.Load()
		res, body := get(front, "/", "")
		if res.Header.Get("X-Cache") != "MISS" || backendHits.Load() != before+1 || strings.Contains(body, "ann") {
			t.Fatalf("anonymous front page: %s, backend hits %d→%d: %q", res.Header.Get("X-Cache"), before, backendHits.Load(), body)
		}
	}
}
