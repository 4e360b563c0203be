package remote_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
)

type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

// failures counts the includes that were not a hit or a miss.
type failures struct {
	n     atomic.Int64
	first atomic.Pointer[composer.IncludeEvent]
}

func (f *failures) Include(ev composer.IncludeEvent) {
	switch ev.Outcome {
	case composer.OutcomeHit, composer.OutcomeMiss, composer.OutcomeStale:
	default:
		f.n.Add(1)
		f.first.CompareAndSwap(nil, &ev)
	}
}
func (f *failures) Page(string, int, time.Duration) {}

const scoresYAML = `
site: {max_includes: 25000}
fragments:
  score:
    timeout: 2s   # generous: the benchmark measures, the budget does not cut
%s
pages:
  - name: scores
    path: /scores
    layout: scores
    budget: 3s
    includes:
      - {fragment: scoreboard, slot: board, params: {size: "{query.size}"}, primary: true}
`

// Where score runs in benchScores.
type where int

const (
	local     where = iota
	inProcess       // remote, served by a Handler in this process
	fragmentd       // remote, served by cmd/fragmentd in its own process
)

// benchScores composes the scores page (the local scoreboard and n score
// includes) with score local, or remote at a fragment server that takes
// latency per request. Cold runs drop every cached score and the board
// first; connections to the fragment server stay pooled.
func benchScores(b *testing.B, n int, at where, cold bool, latency time.Duration) {
	benchScoresBatch(b, n, at, cold, latency, false)
}

// benchScoresBatch is benchScores with score declared batch: true when
// batch is set (remote only).
func benchScoresBatch(b *testing.B, n int, at where, cold bool, latency time.Duration, batch bool) {
	opt := ""
	if batch {
		opt = ", batch: true"
	}
	feed.Configure(feed.Options{})
	defer feed.Configure(feed.DefaultOptions)
	extra := ""
	var c *remote.Client
	var serverCPU func() time.Duration
	switch {
	case at == fragmentd:
		var addr string
		addr, serverCPU = startFragmentd(b, latency)
		extra = `    remote: {url: "http://` + addr + `/fragments/score?match={match}"` + opt + `}`
	case at == inProcess:
		// The server runs score under the same generous timeout.
		score := *findSpec(fragments.All(), "score")
		score.Defaults.Timeout = 2 * time.Second
		svc := httptest.NewServer(remote.Handler([]*composer.Spec{&score}, remote.ServerOptions{Latency: latency, Logger: quiet}))
		defer svc.Close()
		extra = `    remote: {url: "` + svc.URL + `/fragments/score?match={match}"` + opt + `}`
	case latency > 0:
		feed.Configure(feed.Options{Latency: latency})
	}
	c = remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	site := newSite(b, c, fmtYAML(extra))
	fails := &failures{}
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage, Logger: quiet, Observer: fails})
	defer comp.Close()
	page := site.Pages[0]
	req := httptest.NewRequest("GET", "/scores?size="+strconv.Itoa(n), nil)
	q := req.URL.Query()
	w := &discard{h: http.Header{}}
	serve := func() {
		w.n = 0
		clear(w.h)
		comp.Serve(w, req, composer.Request{Page: page, Query: q, Start: time.Now()})
	}
	serve() // warms the cache, and the connection pool
	fails.n.Store(0)
	b.ReportAllocs()
	var batches0 int64
	for _, h := range c.Stats() {
		batches0 += h.Batches
	}
	cpu0 := processCPU()
	var server0 time.Duration
	if serverCPU != nil {
		server0 = serverCPU()
	}
	for b.Loop() {
		if cold {
			b.StopTimer()
			comp.Purge("score")
			comp.Purge("scoreboard")
			b.StartTimer()
		}
		serve()
	}
	b.StopTimer()
	// CPU of the whole process per page (composer, client and, in
	// process, the fragment server; the purges of cold runs too).
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
	}
	if serverCPU != nil {
		if cpu := serverCPU() - server0; cpu > 0 {
			b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "server-cpu-ms/op")
		}
	}
	b.ReportMetric(float64(n), "includes/page")
	if batch {
		var batches int64
		for _, h := range c.Stats() {
			batches += h.Batches
		}
		b.ReportMetric(float64(batches-batches0)/float64(b.N), "batches/op")
	}
	if f := fails.n.Load(); f > 0 {
		ev := fails.first.Load()
		b.Fatalf("%d includes failed, the first: %s %s %v", f, ev.Fragment, ev.Outcome, ev.Err)
	}
	if w.n < n*100 {
		b.Fatalf("page of %d bytes is incomplete", w.n)
	}
}

func fmtYAML(extra string) string {
	s := scoresYAML
	i := len("\nsite: {max_includes: 25000}\nfragments:\n  score:\n    timeout: 2s   # generous: the benchmark measures, the budget does not cut\n")
	return s[:i] + extra + s[i+len("%s"):]
}

func BenchmarkScores1000LocalWarm(b *testing.B) { benchScores(b, 1000, local, false, 0) }
func BenchmarkScores1000RemoteWarm(b *testing.B) {
	benchScores(b, 1000, inProcess, false, 5*time.Millisecond)
}
func BenchmarkScores1000LocalCold(b *testing.B) { benchScores(b, 1000, local, true, 0) }

// BenchmarkScores1000LocalCold5ms is the local page with the demo feed
// taking 5 ms per call (the scoreboard's call too).
func BenchmarkScores1000LocalCold5ms(b *testing.B) {
	benchScores(b, 1000, local, true, 5*time.Millisecond)
}

// BenchmarkScores1000RemoteCold is the target: 1,000 remote
// includes, each taking 5 ms at the fragment server, all missing the cache.
func BenchmarkScores1000RemoteCold(b *testing.B) {
	benchScores(b, 1000, inProcess, true, 5*time.Millisecond)
}

// BenchmarkScores1000RemoteColdBatched is RemoteCold with score declared
// batch: true: the includes go to the server in a few batch requests.
func BenchmarkScores1000RemoteColdBatched(b *testing.B) {
	benchScoresBatch(b, 1000, inProcess, true, 5*time.Millisecond, true)
}

// BenchmarkScores1000FragmentdColdBatched is FragmentdCold with score
// declared batch: true.
func BenchmarkScores1000FragmentdColdBatched(b *testing.B) {
	benchScoresBatch(b, 1000, fragmentd, true, 5*time.Millisecond, true)
}

// BenchmarkScores1000FragmentdCold is RemoteCold with score served by
// cmd/fragmentd in its own process (built by the benchmark), as deployed:
// the fragment server's CPU is then reported apart (server-cpu-ms/op, on
// Linux), and cpu-ms/op is the composer's alone.
func BenchmarkScores1000FragmentdCold(b *testing.B) {
	benchScores(b, 1000, fragmentd, true, 5*time.Millisecond)
}

// startFragmentd builds cmd/fragmentd, starts it on a free loopback port
// serving score with latency per request (under a generous timeout, like
// the in-process server) and returns its address and a reader of its CPU
// time. The process is stopped when the benchmark ends.
func startFragmentd(b *testing.B, latency time.Duration) (string, func() time.Duration) {
	b.Helper()
	if testing.Short() {
		b.Skip("builds and runs fragmentd")
	}
	bin := filepath.Join(b.TempDir(), "fragmentd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/fragmentd").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-only", "score",
		"-fragment-latency", latency.String(), "-fragment-timeout", "2s",
		"-feed-latency", "0", "-feed-slow-every", "0", "-log-level", "warn")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill() // the process this benchmark started
		_ = cmd.Wait()
	})
	l, err := harness.FirstLine(out, 10*time.Second)
	if err != nil {
		b.Fatal("fragmentd did not start: ", err)
	}
	addr := strings.TrimPrefix(l, "fragmentd: serving http://")
	return addr, func() time.Duration { return procCPU(cmd.Process.Pid) }
}

// procCPU is the CPU time (user and system) of process pid, from
// /proc/PID/stat in clock ticks (assumed 100 a second, as on Linux for
// x86 and arm64); 0 where there is no /proc.
func procCPU(pid int) time.Duration {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command, which is in parentheses: utime and
	// stime are the 12th and 13th.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// scoreService serves score, as in benchScores, with no added latency.
func scoreService(b *testing.B) *httptest.Server {
	score := *findSpec(fragments.All(), "score")
	score.Defaults.Timeout = 2 * time.Second
	svc := httptest.NewServer(remote.Handler([]*composer.Spec{&score}, remote.ServerOptions{Logger: quiet}))
	b.Cleanup(svc.Close)
	return svc
}

// BenchmarkFetchScore is one remote include's round trip, client and
// server in this process, over pooled loopback connections, 64 requests
// in flight per CPU: its ns/op is about the CPU of both sides divided by
// GOMAXPROCS, its allocs/op both sides' allocations.
func BenchmarkFetchScore(b *testing.B) {
	feed.Configure(feed.Options{})
	defer feed.Configure(feed.DefaultOptions)
	svc := scoreService(b)
	c := remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	url := svc.URL + "/fragments/score?match=m0042"
	b.ReportAllocs()
	b.SetParallelism(64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Fetch(b.Context(), url); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHandlerScore is the fragment server's handler alone, without
// the HTTP server around it.
func BenchmarkHandlerScore(b *testing.B) {
	feed.Configure(feed.Options{})
	defer feed.Configure(feed.DefaultOptions)
	score := *findSpec(fragments.All(), "score")
	score.Defaults.Timeout = 2 * time.Second
	h := remote.Handler([]*composer.Spec{&score}, remote.ServerOptions{Logger: quiet})
	req := httptest.NewRequest("GET", "/fragments/score?match=m0042", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
	if w.n == 0 {
		b.Fatal("no body")
	}
}
