package events_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/events"
	"github.com/broadsheet/broadsheet/internal/redistest"
)

// BenchmarkPublishToVisible measures, on two instances sharing a real
// Redis under a steady page load, the time from publishing a goal to the
// refreshed score being servable on each instance (what the events
// histogram exports). It reports p50 and p99 over b.N events.
func BenchmarkPublishToVisible(b *testing.B) {
	srv := redistest.Start(b)
	l := newLeague()
	site := l.site(200)
	a, c := startTB(b, srv, site), startTB(b, srv, site)
	var mu sync.Mutex
	var lat []time.Duration
	for _, in := range []*instance{a, c} {
		in.h.OnVisible = func(_ string, d time.Duration) {
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	}
	// A steady load: each instance serves the 200-include page in a loop.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, in := range []*instance{a, c} {
		for range 2 {
			wg.Go(func() {
				for ctx.Err() == nil {
					rec := httptest.NewRecorder()
					in.c.Serve(rec, httptest.NewRequest("GET", "/", nil), composer.Request{Page: site.Pages[0], Start: time.Now()})
				}
			})
		}
	}
	b.ResetTimer()
	for i := range b.N {
		m := fmt.Sprintf("m%d", i%200)
		l.goal(m)
		if _, err := a.bus.Publish(ctx, events.Event{Topic: "match.updated", Params: map[string]string{"match": m}}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // 200 events a second
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= 2*b.N || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no event became visible")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(lat))/float64(2*b.N), "visible/instance-event")
}
