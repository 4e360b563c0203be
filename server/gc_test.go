package server

import (
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		live, headroom uint64
		want           int
	}{
		{4 * mib, 256 * mib, 6400},                      // small heap: collect after 256 MiB more
		{128 * mib, 256 * mib, 200},                     // goal 384 MiB
		{256 * mib, 256 * mib, 100},                     // Go's own pace from here on
		{1024 * mib, 256 * mib, 100},                    // never below it
		{0, 256 * mib, 6400},                            // before anything is live: as if 4 MiB were
		{1 * mib, 256 * mib, 6400},                      // below Go's minimum heap, likewise
		{4 * mib, 1 << 62, (1 << 50) / (4 * mib) * 100}, // no overflow
		{6 * mib, 10 * mib, 166},                        // rounded down
		{100 * mib, 0, 100},                             // no headroom asked
	}
	for _, tt := range tests {
		if got := gcPercent(tt.live, tt.headroom); got != tt.want {
			t.Errorf("gcPercent(%d, %d) = %d, want %d", tt.live, tt.headroom, got, tt.want)
		}
	}
}

func gogc(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatal("no /gc/gogc:percent metric")
	}
	return int(s[0].Value.Uint64())
}

func TestGCTunerSetsAndRestoresPace(t *testing.T) {
	// The tuner runs only where GOGC is not set, i.e. from Go's default
	// pace: start from it whatever this test run's environment says.
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	log := slog.New(slog.DiscardHandler)
	stop := startGCTuner(256<<20, true, log)
	if p := gogc(t); p != 100 {
		t.Fatalf("GOGC %d with GOGC set by the operator, want it left at 100", p)
	}
	stop()

	stop = startGCTuner(256<<20, false, log)
	// The first tune is done by the time startGCTuner returns; this test
	// binary's live heap is far below 256 MiB.
	p := gogc(t)
	stop()
	if p <= 100 {
		t.Fatalf("GOGC %d with a small live heap, want more than 100", p)
	}
	if p := gogc(t); p != 100 {
		t.Fatalf("GOGC %d after stop, want 100 restored", p)
	}

	stop = startGCTuner(0, false, log)
	if p := gogc(t); p != 100 {
		t.Fatalf("GOGC %d with no headroom asked, want 100", p)
	}
	stop()
}
