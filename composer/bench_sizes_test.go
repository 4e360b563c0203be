package composer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// benchSizes are the page sizes BENCHMARKS.md reports.
var benchSizes = []int{100, 1000, 2000, 5000, 10000}

// BenchmarkComposeSizes composes the benchmark scores page (see scoresSite)
// at every size of benchSizes, warm (every include an L1 hit) and cold
// (L1 cleared before each page, every fragment call taking 5 ms). Besides
// ns/op, B/op and allocs/op it reports allocs/include: the allocations of
// one page divided by its includes (the board and each score), the figure
// the "at most 2 per warm include" target is about.
//
//	go test -run '^$' -bench ComposeSizes -benchmem ./composer/
func BenchmarkComposeSizes(b *testing.B) {
	for _, state := range []string{"warm", "cold"} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", state, n), func(b *testing.B) {
				if state == "cold" {
					benchSize(b, n, 5*time.Millisecond, true)
				} else {
					benchSize(b, n, 0, false)
				}
			})
		}
	}
}

// benchSize is benchCompose with an allocs/include metric, counted from the
// runtime's Mallocs over the whole loop. For the cold variant it also counts
// what the timer excludes (clearing L1) and background work, so it is only
// indicative there; the warm figure is the one the target is about.
func benchSize(b *testing.B, n int, latency time.Duration, cold bool) {
	site := scoresSite(n, latency)
	c := New(site, Options{Layouts: testLayouts})
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
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	pages := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if cold {
			b.StopTimer()
			c.l1.Cache().InvalidateAll()
			b.StartTimer()
		}
		serveOnce()
		pages++
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(n), "includes/page")
	if pages > 0 {
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(pages)/float64(n+1), "allocs/include")
	}
	if w.n < n*50 {
		b.Fatalf("page of %d bytes is incomplete", w.n)
	}
}
