package composer

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/internal/schedprobe"
)

// loadSite is the page of the launcher's benchmark: a board, keyed by its
// page param, that includes n scores of that page; every fragment waits
// latency (its backend) and then computes for work.
func loadSite(n int, latency, work time.Duration) *Site {
	call := func(ctx context.Context) error {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		for t0 := time.Now(); time.Since(t0) < work; {
		}
		return nil
	}
	settings := Settings{Timeout: 100 * time.Millisecond, Fresh: time.Hour, Stale: time.Hour}
	score := &Spec{Name: "score", Params: []ParamSpec{{Name: "match", Required: true, Pattern: `[0-9]+-[0-9]+`}},
		Defaults: settings,
		Render: func(ctx context.Context, p Params) (templ.Component, error) {
			if err := call(ctx); err != nil {
				return nil, err
			}
			return text(`<li class="score">` + p.Get("match") + `</li>`), nil
		}}
	board := &Spec{Name: "board", Includes: []string{"score"}, Params: []ParamSpec{{Name: "page", Required: true, Pattern: `[0-9]+`}},
		Defaults: settings,
		Render: func(ctx context.Context, p Params) (templ.Component, error) {
			if err := call(ctx); err != nil {
				return nil, err
			}
			var b strings.Builder
			for i := range n {
				b.WriteString(IncludeTag("score", "match", p.Get("page")+"-"+strconv.Itoa(i)))
			}
			return text(b.String()), nil
		}}
	s := testSite([]*Spec{score, board}, 400*time.Millisecond)
	s.Pages[0].Includes = []*PageInclude{{Fragment: "board", Slot: "main", Params: []Binding{{Name: "page", From: "query", Value: "p"}}}}
	s.Limits.MaxIncludes = 20000
	return s
}

// benchLaunch serves, per op, concurrent cold pages of n includes (keys
// no earlier op asked for), and reports the pages' latency, the share of
// their scores that arrived within the budget, and how late a goroutine
// woken by a timer meanwhile — as a page's writer is — ran. room false
// launches every call's goroutine at once (no launcher queue); target is
// Options.SchedTarget (negative: no adaptive limit).
func benchLaunch(b *testing.B, pages, n int, room bool, target time.Duration) {
	site := loadSite(n, 5*time.Millisecond, 2*time.Microsecond)
	c := New(site, Options{Layouts: testLayouts, SchedTarget: target, L1Bytes: 64 << 20})
	defer c.Close()
	if !room {
		c.launcher.SetRoom(math.MaxInt)
	}
	probe := schedprobe.Start(time.Millisecond)
	var lat []time.Duration
	scores, want := 0, 0
	round := 0
	for b.Loop() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range pages {
			round++
			q := url.Values{"p": {strconv.Itoa(round)}}
			wg.Go(func() {
				w := &bufWriter{h: http.Header{}}
				t0 := time.Now()
				c.Serve(w, httptest.NewRequest("GET", "/", nil), Request{Page: site.Pages[0], Query: q, Start: t0})
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				scores += bytes.Count(w.b.Bytes(), []byte(`<li class="score">`))
				want += n
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	late := probe.Stop()
	slices.Sort(lat)
	b.ReportMetric(schedprobe.Ms(schedprobe.Quantile(lat, 0.5)), "page-p50-ms")
	b.ReportMetric(schedprobe.Ms(schedprobe.Quantile(lat, 0.99)), "page-p99-ms")
	b.ReportMetric(float64(scores)/float64(max(want, 1)), "scores-share")
	b.ReportMetric(schedprobe.Ms(schedprobe.Quantile(late, 0.99)), "wake-late-p99-ms")
	b.ReportMetric(schedprobe.Ms(schedprobe.Quantile(late, 1)), "wake-late-max-ms")
}

// bufWriter is a ResponseWriter that keeps the body.
type bufWriter struct {
	h http.Header
	b bytes.Buffer
}

func (w *bufWriter) Header() http.Header         { return w.h }
func (w *bufWriter) Write(p []byte) (int, error) { return w.b.Write(p) }
func (w *bufWriter) WriteHeader(int)             {}
func (w *bufWriter) Flush()                      {}

// BenchmarkLaunch is what the launcher and its adaptive limit buy: 16
// concurrent cold pages of 2,000 includes, each call waiting 5 ms on its
// backend and then computing 20 µs, on however many processors there are
// (the machine saturated). "launcher" queues calls beyond a few waiting
// goroutines per processor; "go" starts every call's goroutine at once;
// "+limit" adds the adaptive limit of calls in flight (SchedTarget 40 ms).
func BenchmarkLaunch(b *testing.B) {
	for _, v := range []struct {
		name   string
		room   bool
		target time.Duration
	}{
		{"launcher+limit", true, 0},
		{"launcher", true, -1},
		{"go+limit", false, 0},
		{"go", false, -1},
	} {
		b.Run(v.name, func(b *testing.B) { benchLaunch(b, 16, 2000, v.room, v.target) })
	}
}
