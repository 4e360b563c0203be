package remote_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/fragments/feed"
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

// benchScores composes the scores page (the local scoreboard and n score
// includes) with score local, or remote at a fragment server that takes
// latency per request. Cold runs drop every cached score and the board
// first; connections to the fragment server stay pooled.
func benchScores(b *testing.B, n int, isRemote, cold bool, latency time.Duration) {
	feed.Configure(feed.Options{})
	defer feed.Configure(feed.DefaultOptions)
	extra := ""
	var c *remote.Client
	if isRemote {
		// The server runs score under the same generous timeout.
		score := *findSpec(fragments.All(), "score")
		score.Defaults.Timeout = 2 * time.Second
		svc := httptest.NewServer(remote.Handler([]*composer.Spec{&score}, remote.ServerOptions{Latency: latency, Logger: quiet}))
		defer svc.Close()
		extra = `    remote: {url: "` + svc.URL + `/fragments/score?match={match}"}`
	} else if latency > 0 {
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
	b.ResetTimer()
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
	b.ReportMetric(float64(n), "includes/page")
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

func BenchmarkScores1000LocalWarm(b *testing.B) { benchScores(b, 1000, false, false, 0) }
func BenchmarkScores1000RemoteWarm(b *testing.B) {
	benchScores(b, 1000, true, false, 5*time.Millisecond)
}
func BenchmarkScores1000LocalCold(b *testing.B) { benchScores(b, 1000, false, true, 0) }

// BenchmarkScores1000LocalCold5ms is the local page with the demo feed
// taking 5 ms per call (the scoreboard's call too).
func BenchmarkScores1000LocalCold5ms(b *testing.B) {
	benchScores(b, 1000, false, true, 5*time.Millisecond)
}

// BenchmarkScores1000RemoteCold is the target: 1,000 remote
// includes, each taking 5 ms at the fragment server, all missing the cache.
func BenchmarkScores1000RemoteCold(b *testing.B) {
	benchScores(b, 1000, true, true, 5*time.Millisecond)
}
