package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/internal/wait"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
)

// daemon is one fragmentd process started by a test.
type daemon struct {
	cmd  *exec.Cmd
	addr string
}

// start runs the fragmentd binary at bin with args and waits until it
// prints the address it serves.
func start(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-feed-latency", "0", "-feed-slow-every", "0", "-log-level", "warn"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd}
	t.Cleanup(d.stop)
	l, err := harness.FirstLine(out, 10*time.Second)
	if err != nil {
		t.Fatal("fragmentd did not start: ", err)
	}
	d.addr = strings.TrimPrefix(l, "fragmentd: serving http://")
	return d
}

// stop kills the process the test started, by its own handle.
func (d *daemon) stop() {
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
	}
}

// outcomes serves path with ?debug=1 and returns the outcome of every
// include by fragment name.
func outcomes(t *testing.T, url string) (int, map[string][]string) {
	t.Helper()
	resp, err := http.Get(url + "?debug=1&size=20")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	doc.Find("bs-frag").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("data-fragment")
		o, _ := s.Attr("data-outcome")
		out[name] = append(out[name], o)
	})
	return resp.StatusCode, out
}

func all(list []string, ok ...string) bool {
	if len(list) == 0 {
		return false
	}
	for _, o := range list {
		found := false
		for _, k := range ok {
			found = found || o == k
		}
		if !found {
			return false
		}
	}
	return true
}

// TestTwoFragmentServers runs a composer with score served by one
// fragmentd (batched) and weather and forecast by another (plain GETs):
// pages are complete; with
// the first killed, its includes fall back and the others are untouched;
// restarted on the same port, they recover without restarting the
// composer.
func TestTwoFragmentServers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs fragmentd")
	}
	bin := filepath.Join(t.TempDir(), "fragmentd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	scores := start(t, bin, "-addr", "127.0.0.1:0", "-only", "score")
	weather := start(t, bin, "-addr", "127.0.0.1:0", "-only", "weather,forecast")

	feed.Configure(feed.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc := remote.New(remote.Options{BreakerFailures: 3, BreakerOpen: 200 * time.Millisecond, Logger: log})
	defer rc.Close()
	reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots(),
		Remote: func(name string, c config.RemoteConfig, local *composer.Spec) (*composer.Spec, error) {
			return rc.Spec(remote.Config{Name: name, URL: c.URL, Params: c.Params, Includes: c.Includes, Local: local, Batch: c.Batch})
		}}
	// Nothing is cached, so that every page asks the services.
	yaml := fmt.Sprintf(`
fragments:
  score:
    remote: {url: "http://%s/fragments/score?match={match}", batch: true}
    timeout: 1s
    fresh: 0s
    stale: 0s
  weather:
    remote: {url: "http://%s/fragments/weather?city={city}"}
    timeout: 1s
    fresh: 0s
    stale: 0s
  forecast:
    remote: {url: "http://%s/fragments/forecast?city={city}"}
    timeout: 1s
    fresh: 0s
    stale: 0s
pages:
  - name: scores
    path: /scores
    layout: scores
    budget: 2s
    includes:
      - {fragment: scoreboard, slot: board, params: {size: "{query.size}"}, primary: true}
  - name: city
    path: /weather/{city}
    layout: city
    budget: 2s
    includes:
      - {fragment: weather, slot: weather, params: {city: "{route.city}"}}
      - {fragment: forecast, slot: forecast, params: {city: "{route.city}"}}
`, scores.addr, weather.addr, weather.addr)
	site, err := config.Parse("site.yaml", []byte(yaml), reg)
	if err != nil {
		t.Fatal(err)
	}
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage, Logger: log})
	defer comp.Close()
	mux := http.NewServeMux()
	for _, p := range site.Pages {
		mux.HandleFunc("GET "+p.Path, func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			comp.Serve(w, r, composer.Request{Page: p, Route: map[string]string{"city": r.PathValue("city")}, Query: q,
				Start: time.Now(), Debug: q.Get("debug") == "1"})
		})
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	healthy := func() bool {
		st, sc := outcomes(t, srv.URL+"/scores")
		sw, cw := outcomes(t, srv.URL+"/weather/london")
		return st == 200 && sw == 200 && len(sc["score"]) == 20 && all(sc["score"], "miss") &&
			all(cw["weather"], "miss") && all(cw["forecast"], "miss")
	}
	// Both services up: pages complete (waited for, not assumed of the
	// first page: on a loaded machine under -race a first call, dialing
	// its connection, can pass its 1 s timeout).
	wait.For(t, "pages complete with both services up", healthy)

	scores.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 5 { // the breaker opens along the way
		st, sc := outcomes(t, srv.URL+"/scores")
		if st != 200 || len(sc["score"]) != 20 || !all(sc["score"], "error", "timeout", "fallback") || !all(sc["scoreboard"], "miss", "hit") {
			t.Fatalf("round %d with score's service down: status %d, %v", i, st, sc)
		}
		_, cw := outcomes(t, srv.URL+"/weather/london")
		if !all(cw["weather"], "miss") || !all(cw["forecast"], "miss") {
			t.Fatalf("weather's includes were affected: %v", cw)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("pages with a dead service took too long")
	}
	st := rc.Stats()
	if st[0].Host != "http://"+scores.addr && st[1].Host != "http://"+scores.addr {
		t.Fatalf("stats %+v", st)
	}
	for _, s := range st {
		if batched := s.Host == "http://"+scores.addr; batched != (s.Batches > 0) {
			t.Errorf("host %s: %d batches (score alone is batched)", s.Host, s.Batches)
		}
	}

	start(t, bin, "-addr", scores.addr, "-only", "score")
	wait.For(t, "score's includes to recover after restarting its service", healthy)
}
