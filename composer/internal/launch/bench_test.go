package launch

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/schedprobe"
)

// BenchmarkBurst is what the launcher's room and its adaptive limit buy
// against starting every call's goroutine at once: per op, bursts of
// 10,000 calls each waiting 5 ms (its backend) and then computing 5 µs,
// 16 bursts at a time, while a goroutine woken by a timer every
// millisecond — as a page's writer is — measures how late it runs.
// ns/op is the time for all 16 bursts to finish.
func BenchmarkBurst(b *testing.B) {
	for _, v := range []struct {
		name  string
		room  bool
		limit bool
	}{
		{"room+limit", true, true},
		{"room", true, false},
		{"go+limit", false, true},
		{"go", false, false},
	} {
		b.Run(v.name, func(b *testing.B) { benchBurst(b, 16, 10000, v.room, v.limit) })
	}
}

type burstCall struct{ wg *sync.WaitGroup }

func benchBurst(b *testing.B, bursts, n int, room, limit bool) {
	var gauge atomic.Int64
	var adapt *Limit
	if limit {
		adapt = NewLimit(0, 16384, &gauge)
	}
	var l *Launcher[burstCall]
	l = New(NoLimit, adapt, Funcs[burstCall]{
		Run: func(c burstCall) {
			defer c.wg.Done()
			defer l.Finished()
			l.Started(time.Now())
			t := time.NewTimer(5 * time.Millisecond)
			<-t.C
			for t0 := time.Now(); time.Since(t0) < 5*time.Microsecond; {
			}
		},
		Shed:   func(burstCall, time.Time) bool { return false },
		Urgent: func(burstCall) bool { return false },
	})
	if !room {
		l.SetRoom(math.MaxInt)
	}
	probe := schedprobe.Start(time.Millisecond)
	for b.Loop() {
		var all sync.WaitGroup
		for range bursts {
			all.Go(func() {
				var wg sync.WaitGroup
				wg.Add(n)
				calls := make([]burstCall, n)
				for i := range calls {
					calls[i] = burstCall{&wg}
				}
				l.Start(calls)
				wg.Wait()
			})
		}
		all.Wait()
	}
	b.StopTimer()
	late := probe.Stop()
	b.ReportMetric(schedprobe.Ms(schedprobe.Quantile(late, 0.5)), "wake-late-p50-ms")
	b.ReportMetric(schedprobe.Ms(schedprobe.Quantile(late, 0.99)), "wake-late-p99-ms")
}
