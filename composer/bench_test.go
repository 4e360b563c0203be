package composer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
)

// discard is a ResponseWriter that keeps nothing, so benchmarks measure
// composition rather than a recorder's buffer growth.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

// scoresSite is the benchmark page: a scoreboard that includes n scores,
// every fragment taking latency per call.
func scoresSite(n int, latency time.Duration) *Site {
	wait := func(ctx context.Context) error {
		if latency == 0 {
			return nil
		}
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	score := &Spec{Name: "score", Params: []ParamSpec{{Name: "match", Required: true, Pattern: `m[0-9]{4,5}`}},
		Defaults: Settings{Timeout: 100 * time.Millisecond, Fresh: time.Hour, Stale: time.Hour},
		Render: func(ctx context.Context, p Params) (templ.Component, error) {
			if err := wait(ctx); err != nil {
				return nil, err
			}
			m := p.Get("match")
			return text(`<li class="score"><span class="home">Team ` + m + `</span> <b>2–1</b> <span class="away">Rivals FC</span> <i>78'</i></li>`), nil
		}}
	board := &Spec{Name: "scoreboard", Includes: []string{"score"}, Params: []ParamSpec{{Name: "size", Default: strconv.Itoa(n)}},
		Defaults: Settings{Timeout: 100 * time.Millisecond, Fresh: time.Hour, Stale: time.Hour},
		Render: func(ctx context.Context, p Params) (templ.Component, error) {
			if err := wait(ctx); err != nil {
				return nil, err
			}
			size, _ := strconv.Atoi(p.Get("size"))
			var b strings.Builder
			b.WriteString("<ol class=\"board\">")
			for i := range size {
				b.WriteString(IncludeTag("score", "match", fmt.Sprintf("m%04d", i)))
			}
			b.WriteString("</ol>")
			return text(b.String()), nil
		}}
	s := testSite([]*Spec{score, board}, time.Second, "scoreboard")
	s.Limits.MaxIncludes = 20000
	return s
}

func benchCompose(b *testing.B, n int, latency time.Duration, cold bool, stitch bool) {
	site := scoresSite(n, latency)
	opts := Options{Layouts: testLayouts}
	if !stitch {
		opts.StitchBytes = -1
	}
	c := New(site, opts)
	defer c.Close()
	req := httptest.NewRequest("GET", "/", nil)
	w := &discard{h: http.Header{}}
	page := site.Pages[0]
	serveOnce := func() {
		w.n = 0
		clear(w.h)
		c.Serve(w, req, Request{Page: page, Start: time.Now()})
	}
	serveOnce() // warm
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if cold {
			b.StopTimer()
			c.l1.Cache().InvalidateAll()
			b.StartTimer()
		}
		serveOnce()
	}
	b.StopTimer()
	b.ReportMetric(float64(n), "includes/page")
	if w.n < n*50 {
		b.Fatalf("page of %d bytes is incomplete", w.n)
	}
}

// BenchmarkCompose2000Warm serves the page from L1, its scoreboard stitched
// (see stitch.go) after the first warm request.
func BenchmarkCompose2000Warm(b *testing.B) { benchCompose(b, 2000, 0, false, true) }

// BenchmarkCompose2000WarmUnstitched serves it from L1 with every include
// looked up and written on every request.
func BenchmarkCompose2000WarmUnstitched(b *testing.B) { benchCompose(b, 2000, 0, false, false) }

// BenchmarkCompose2000Cold composes the page with every include missing the
// cache and every fragment (the board, then each score) taking 5 ms.
func BenchmarkCompose2000Cold(b *testing.B) { benchCompose(b, 2000, 5*time.Millisecond, true, true) }

func BenchmarkCompose10000Warm(b *testing.B) { benchCompose(b, 10000, 0, false, true) }

func BenchmarkCompose10000WarmUnstitched(b *testing.B) {
	benchCompose(b, 10000, 0, false, false)
}
