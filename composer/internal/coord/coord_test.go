package coord

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPollerLooksInBatches: every wait open is looked for in one look per
// interval, a wait stays until a look ends it, and the poller's goroutine
// ends once none is left and starts again with the next wait.
func TestPollerLooksInBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var looks [][]int
		ready := map[int]int{1: 1, 2: 2, 3: 1, 4: 1} // the look at which each result appears
		var wg sync.WaitGroup
		p := &Poller[int]{
			Interval: time.Millisecond,
			Go:       wg.Go,
			Look: func(waiting []int) []int {
				mu.Lock()
				defer mu.Unlock()
				looks = append(looks, slices.Clone(waiting))
				var rest []int
				for _, w := range waiting {
					if ready[w] > len(looks) {
						rest = append(rest, w)
					}
				}
				return rest
			},
			Closed: func(int) { t.Error("a wait was closed without Done") },
		}
		p.Wait([]int{1, 2})
		p.Wait([]int{3}) // joins the running poller
		wg.Wait()        // every wait ended, so the poller did
		if want := [][]int{{1, 2, 3}, {2}}; !slices.EqualFunc(looks, want, slices.Equal) {
			t.Fatalf("looks %v, want %v", looks, want)
		}
		p.Wait([]int{4})
		wg.Wait()
		if len(looks) != 3 || !slices.Equal(looks[2], []int{4}) {
			t.Fatalf("looks %v: the poller did not start again for a new wait", looks)
		}
		p.Wait(nil) // nothing to wait for: no goroutine
		wg.Wait()
	})
}

// TestPollerClosesOpenWaits: when Done ends the poller, every wait still
// open is closed, and none is looked for again.
func TestPollerClosesOpenWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		done := make(chan struct{})
		var closed []int
		var wg sync.WaitGroup
		looks := 0
		p := &Poller[int]{
			Interval: time.Millisecond,
			Go:       wg.Go,
			Done:     done,
			Look:     func(waiting []int) []int { looks++; return waiting },
			Closed:   func(w int) { closed = append(closed, w) },
		}
		p.Wait([]int{7, 8})
		time.Sleep(5 * time.Millisecond)
		synctest.Wait()
		close(done)
		wg.Wait()
		if !slices.Equal(closed, []int{7, 8}) || looks == 0 {
			t.Fatalf("closed %v after %d looks, want 7 and 8", closed, looks)
		}
		n := looks
		time.Sleep(5 * time.Millisecond)
		if looks != n {
			t.Errorf("looked %d times after Done", looks-n)
		}
	})
}

// TestGenerationsKeepTheNewest: a generation heard late does not replace a
// newer one, and the version names the generation.
func TestGenerationsKeepTheNewest(t *testing.T) {
	var g Generations
	if v := g.Version("score", "3"); v != "3" || g.Gen("score") != 0 {
		t.Fatalf("before any purge: version %q, gen %d", v, g.Gen("score"))
	}
	for _, tc := range []struct {
		gen     int64
		applied bool
		version string
	}{
		{2, true, "3.2"},
		{1, false, "3.2"}, // late
		{2, false, "3.2"}, // again
		{5, true, "3.5"},
	} {
		if got := g.Apply("score", "3", tc.gen); got != tc.applied {
			t.Errorf("Apply(%d) = %v, want %v", tc.gen, got, tc.applied)
		}
		if v := g.Version("score", "3"); v != tc.version {
			t.Errorf("after Apply(%d): version %q, want %q", tc.gen, v, tc.version)
		}
	}
	if v := g.Version("board", "1"); v != "1" {
		t.Errorf("an unpurged fragment's version %q, want 1", v)
	}
}

// TestGenerationsConcurrentApplies: whatever order concurrent applies run
// in, the newest generation is the one kept, and exactly one apply of it
// reports that it applied.
func TestGenerationsConcurrentApplies(t *testing.T) {
	var g Generations
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := map[int64]int{}
	for gen := int64(1); gen <= 50; gen++ {
		for range 4 {
			wg.Go(func() {
				if g.Apply("score", "1", gen) {
					mu.Lock()
					applied[gen]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if g.Gen("score") != 50 || applied[50] != 1 {
		t.Fatalf("gen %d, applied %v", g.Gen("score"), applied)
	}
	for gen, n := range applied {
		if n > 1 {
			t.Errorf("generation %d applied %d times", gen, n)
		}
	}
}
