package composer

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNodeClasses(t *testing.T) {
	for _, tc := range []struct{ k, class int }{
		{0, -1}, {63, -1}, {64, 0}, {65, 1}, {128, 1}, {129, 2}, {2000, 5}, {32768, 9}, {32769, -1},
	} {
		if got := nodeClass(tc.k); got != tc.class {
			t.Errorf("nodeClass(%d) = %d, want %d", tc.k, got, tc.class)
		}
		ns := newNodes(tc.k)
		if len(ns) != tc.k || (tc.class >= 0 && cap(ns) != minPooledNodes<<tc.class) {
			t.Errorf("newNodes(%d): len %d cap %d", tc.k, len(ns), cap(ns))
		}
	}
}

// TestRecycledNodesAreZero: a slice given back with settled nodes and
// children comes out again as zero nodes, children included.
func TestRecycledNodesAreZero(t *testing.T) {
	for range 20 {
		ns := newNodes(100)
		for i := range ns {
			if ns[i].state.Load() != pending || ns[i].ref != nil || ns[i].children != nil || ns[i].entry != nil {
				t.Fatalf("node %d not zero: %+v", i, &ns[i])
			}
			ns[i].state.Store(done)
			ns[i].ref = &includeRef{fragment: "x"}
			ns[i].outcome = OutcomeStale
		}
		ns[3].children = newNodes(70)
		ns[3].children[5].dur = time.Second
		freeNodes(ns)
	}
}

// TestWarmPagesRecycleSafely serves a warm page of nested includes from
// many goroutines (run with -race): pages whose nodes are recycled stay
// byte-identical.
func TestWarmPagesRecycleSafely(t *testing.T) {
	incs := make([]string, 300)
	for i := range incs {
		incs[i] = "a"
	}
	incs = append(incs, "outer")
	outer := static("outer", strings.Repeat(`<bs-include fragment="a"></bs-include>`, 100))
	outer.Includes = []string{"a"}
	a := static("a", "<i>a</i>")
	for _, s := range []*Spec{a, outer} {
		s.Defaults.Fresh, s.Defaults.Timeout = time.Hour, time.Second
	}
	c := newTestComposer(t, testSite([]*Spec{a, outer}, 5*time.Second, incs...), Options{})
	want := body(serve(c, "")) // cold: calls, nothing recycled
	if got := body(serve(c, "")); got != want {
		t.Fatalf("warm page differs from the cold one")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if got := body(serve(c, "")); got != want {
					t.Errorf("warm page differs:\n%s", got)
					return
				}
			}
		})
	}
	wg.Wait()
	if strings.Count(want, "<i>a</i>") != 400 {
		t.Errorf("page has %d includes of a, want 400", strings.Count(want, "<i>a</i>"))
	}
}

// BenchmarkNodes is what the node pools buy a warm 2,000-include page that
// makes no call: its nodes come back from the pool (pooled) rather than
// from the heap (make), 136 bytes each, and create no garbage.
func BenchmarkNodes(b *testing.B) {
	b.Run("pooled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			freeNodes(newNodes(2000))
		}
	})
	b.Run("make", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ns := make([]node, 2000)
			_ = &ns[len(ns)-1]
		}
	})
}
