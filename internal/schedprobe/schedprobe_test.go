package schedprobe

import (
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestProbeRecordsWakes: on a clock nothing else wants the processor
// from (a synctest bubble's), a probe wakes on time, once an interval, and
// its goroutine ends with Stop — after its current sleep.
func TestProbeRecordsWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := Start(time.Millisecond)
		time.Sleep(3500 * time.Microsecond)
		late := p.Stop()
		if len(late) != 4 || late[0] != 0 || late[3] != 0 {
			t.Errorf("lateness %v, want 4 wakes on time", late)
		}
	})
}

func TestQuantile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 6}, {0.99, 10}, {1, 10}} {
		if got := Quantile(d, tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("empty: not 0")
	}
}
