package composer

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
)

// TestConcurrencyBounds: a fragment's MaxConcurrent queues its calls, and
// the composer's MaxInFlight turns excess calls into fallbacks at once.
func TestConcurrencyBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var running, peak atomic.Int32
		f := &Spec{Name: "f", Params: []ParamSpec{{Name: "i"}}, MaxConcurrent: 2,
			Defaults: Settings{Timeout: time.Second, Fresh: time.Minute, Stale: time.Minute, Fallback: "<i>busy</i>"},
			Render: func(_ context.Context, p Params) (templ.Component, error) {
				notePeak(&peak, running.Add(1))
				time.Sleep(10 * time.Millisecond)
				running.Add(-1)
				return text("<b>" + p.Get("i") + "</b>"), nil
			}}
		incs := []string{}
		for i := range 6 {
			incs = append(incs, "f?i="+string(rune('a'+i)))
		}
		c := newTestComposer(t, testSite([]*Spec{f}, time.Second, incs...), Options{})
		start := time.Now()
		b := body(serve(c, ""))
		if peak.Load() != 2 || strings.Count(b, "<b>") != 6 {
			t.Fatalf("peak %d concurrent calls, %d rendered: %s", peak.Load(), strings.Count(b, "<b>"), b)
		}
		if el := time.Since(start); el != 30*time.Millisecond {
			t.Fatalf("6 calls two at a time took %v, want 30ms", el)
		}

		// One global slot, calls of 10 ms, a timeout of 25 ms, a budget of
		// a second: the calls wait for the slot in turn — waiting inside
		// the composer is not the fragment's slowness — and all render.
		f2 := *f
		f2.MaxConcurrent = 0
		f2.Defaults.Timeout = 25 * time.Millisecond
		c2 := newTestComposer(t, testSite([]*Spec{&f2}, time.Second, incs...), Options{MaxInFlight: 1})
		b = body(serve(c2, "debug=1"))
		if n := strings.Count(b, "</b></bs-frag>"); n != 6 || c2.Stats().Overloaded.Load() != 0 {
			t.Fatalf("one slot for 6 calls of 10 ms, each within its 25 ms timeout: %d rendered, %d refused: %s", n, c2.Stats().Overloaded.Load(), b)
		}

		// The same with a budget of 25 ms: two calls run, a third starts
		// and is still running at the budget, and the rest cannot get a
		// slot before their page gives up: they are refused, not queued
		// past it.
		c3 := newTestComposer(t, testSite([]*Spec{&f2}, 25*time.Millisecond, incs...), Options{MaxInFlight: 1})
		b = body(serve(c3, "debug=1"))
		synctest.Wait() // the refused calls count themselves
		if n := strings.Count(b, "</b></bs-frag>"); n != 2 || c3.Stats().Overloaded.Load() != 3 || strings.Count(b, "<i>busy</i>") != 4 {
			t.Fatalf("one slot for 6 calls of 10 ms within a 25 ms budget: %d rendered, %d refused: %s", n, c3.Stats().Overloaded.Load(), b)
		}
	})
}

// TestOneFragmentsQueueDoesNotStarveOthers: calls queued for their own
// fragment's slots hold none of the composer's, so another fragment's
// call still gets one (a page's primary was refused — a 503 — while its
// scores queued for theirs).
func TestOneFragmentsQueueDoesNotStarveOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		busy := &Spec{Name: "busy", Params: []ParamSpec{{Name: "i"}}, MaxConcurrent: 1,
			Defaults: Settings{Timeout: time.Second, Fresh: time.Minute, Stale: time.Minute, Fallback: "<i>busy</i>"},
			Render: func(context.Context, Params) (templ.Component, error) {
				<-release
				return text("<b>busy</b>"), nil
			}}
		other := static("other", "<p>other</p>")
		other.Defaults.Timeout = 100 * time.Millisecond
		incs := []string{}
		for i := range 4 {
			incs = append(incs, "busy?i="+string(rune('a'+i)))
		}
		// Four slots: one runs busy, three busy calls wait for busy's one
		// slot; other, on the next page, must still get one of the four.
		c := newTestComposer(t, testSite([]*Spec{busy, other}, 5*time.Second, incs...), Options{MaxInFlight: 4})
		done := make(chan string)
		go func() { done <- body(serve(c, "")) }()
		synctest.Wait() // busy's calls are running or queued
		c.SetSite(testSite([]*Spec{busy, other}, 5*time.Second, "other"))
		b := body(serve(c, ""))
		close(release)
		<-done
		if !strings.Contains(b, "<p>other</p>") {
			t.Fatalf("other was refused while busy's calls queued: %s", b)
		}
	})
}

// TestGroupQueueIsNotTheFragmentsTime: fragments of one Group (a remote
// service's) share its GroupLimit slots. A call waiting for one is queued
// in the composer, not slow: with one slot and three 30 ms calls of a
// 40 ms timeout, all three are served, one after another, while the page
// has budget; with too little budget the last is shed when the page ends,
// on time.
func TestGroupQueueIsNotTheFragmentsTime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget time.Duration
		took   time.Duration
		served int
	}{
		{"served in turn", time.Second, 90 * time.Millisecond, 3},
		{"shed at the budget", 70 * time.Millisecond, 70 * time.Millisecond, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var running, most atomic.Int32
				var specs []*Spec
				for _, name := range []string{"a", "b", "c"} {
					s := static(name, "<p>"+name+"</p>")
					s.Group, s.GroupLimit = "remote http://svc", 1
					s.Defaults.Timeout = 40 * time.Millisecond
					s.Render = func(context.Context, Params) (templ.Component, error) {
						n := running.Add(1)
						for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
						}
						time.Sleep(30 * time.Millisecond)
						running.Add(-1)
						return text("<p>" + name + "</p>"), nil
					}
					specs = append(specs, s)
				}
				c := newTestComposer(t, testSite(specs, tc.budget, "a", "b", "c"), Options{})
				t0 := time.Now()
				rec := serve(c, "")
				if took := time.Since(t0); took != tc.took {
					t.Errorf("page took %v, want %v", took, tc.took)
				}
				if got := strings.Count(body(rec), "</p>"); got != tc.served {
					t.Errorf("%d includes served, want %d: %s", got, tc.served, body(rec))
				}
				if most.Load() != 1 {
					t.Errorf("%d calls of the group ran at once, want 1", most.Load())
				}
				synctest.Wait()
			})
		})
	}
}

// TestOutputCap: a call's HTML over its cap — the fragment's MaxBytes,
// else the site's MaxFragmentBytes — is not served, and the log says how
// big it was and what the cap is; a fragment whose MaxBytes allows it is
// served.
func TestOutputCap(t *testing.T) {
	big := strings.Repeat("x", 3000)
	for _, tt := range []struct {
		name     string
		maxBytes int // the fragment's
		raw      bool
		served   bool
		logged   string
	}{
		{"over the site's cap", 0, false, false, "bytes=3000 at_least=false max_bytes=2048"},
		{"raw, over the site's cap", 0, true, false, "bytes=3000 at_least=false max_bytes=2048"},
		{"within its own cap", 4096, false, true, ""},
		{"over its own cap", 1024, false, false, "bytes=3000 at_least=false max_bytes=1024"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := static("big", "")
			f.Render = func(context.Context, Params) (templ.Component, error) {
				if tt.raw {
					return &Raw{HTML: []byte(big)}, nil
				}
				return text(big), nil
			}
			f.Defaults.Fallback = "<i>fallback</i>"
			f.Defaults.MaxBytes = tt.maxBytes
			site := testSite([]*Spec{f}, time.Second, "big")
			site.Limits.MaxFragmentBytes = 2048
			// The call logs before its include resolves, so the log is
			// complete once the page is.
			var log strings.Builder
			c := newTestComposer(t, site, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
			b := body(serve(c, ""))
			if got := strings.Contains(b, big); got != tt.served {
				t.Fatalf("served = %v, want %v: %.200s", got, tt.served, b)
			}
			if tt.logged == "" {
				if strings.Contains(log.String(), "max_bytes") {
					t.Errorf("logged an oversize: %s", log.String())
				}
				return
			}
			if !strings.Contains(b, "<i>fallback</i>") {
				t.Errorf("no fallback: %s", b)
			}
			if !strings.Contains(log.String(), "fragment=big "+tt.logged) || c.Stats().Oversized.Load() != 1 {
				t.Errorf("log %q, %d oversized; want %q", log.String(), c.Stats().Oversized.Load(), tt.logged)
			}
		})
	}
}
