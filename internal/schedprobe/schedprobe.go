// Package schedprobe measures how late a goroutine woken by a timer runs —
// as a page's writer or a request's handler is woken — for benchmarks of
// what keeps Go's run queues short. It asserts nothing: benchmarks report
// what it measured.
package schedprobe

import (
	"slices"
	"time"
)

// Probe sleeps an interval at a time, on a goroutine of its own, and
// records how much later than asked each sleep ended.
type Probe struct {
	stop chan struct{}
	out  chan []time.Duration
}

// Start starts a probe that sleeps interval at a time.
func Start(interval time.Duration) *Probe {
	p := &Probe{stop: make(chan struct{}), out: make(chan []time.Duration)}
	go func() {
		var late []time.Duration
		for {
			select {
			case <-p.stop:
				p.out <- late
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(interval)
			late = append(late, time.Since(t0)-interval)
		}
	}()
	return p
}

// Stop ends the probe and returns its lateness per wake, sorted. Call it
// once.
func (p *Probe) Stop() []time.Duration {
	close(p.stop)
	return slices.Sorted(slices.Values(<-p.out))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted, 0 when it is
// empty.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// Ms is d in milliseconds, for b.ReportMetric.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
