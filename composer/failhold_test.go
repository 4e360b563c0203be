package composer

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
)

// failing is a fragment whose calls fail (counted) while fail is set, and
// render "<b>ok</b>" otherwise.
type failing struct {
	calls atomic.Int32
	fail  atomic.Bool
}

func newFailing(name string, s Settings) (*failing, *Spec) {
	fr := &failing{}
	fr.fail.Store(true)
	spec := static(name, "")
	spec.Defaults = s
	spec.Render = func(context.Context, Params) (templ.Component, error) {
		fr.calls.Add(1)
		time.Sleep(10 * time.Millisecond)
		if fr.fail.Load() {
			return nil, errors.New("failing: upstream said no")
		}
		return text("<b>ok</b>"), nil
	}
	return fr, spec
}

// TestFailedCallIsHeld: after a call fails, the requests that arrive
// during the key's FailHold get the fallback without a call (one
// call in all, not one per request); once the hold has passed, the next
// request calls again. With the hold off, every request calls.
func TestFailedCallIsHeld(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hold      time.Duration
		wantCalls int32 // after the first page and a herd of 50
	}{
		{"default hold", 0, 1},
		{"hold off", -1, 51},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr, spec := newFailing("f", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour,
					Fallback: "<i>fb</i>", FailHold: tc.hold})
				c := newTestComposer(t, testSite([]*Spec{spec}, time.Second, "f"), Options{})
				if b := body(serve(c, "debug=1")); !strings.Contains(b, "<i>fb</i>") || !strings.Contains(b, `data-outcome="error"`) {
					t.Fatalf("first page: %s", b)
				}
				// One after the other (concurrent ones would share a call
				// anyway), all within the hold.
				for range 50 {
					if b := body(serve(c, "")); !strings.Contains(b, "<i>fb</i>") {
						t.Fatalf("during the hold: %s", b)
					}
				}
				if n := fr.calls.Load(); n != tc.wantCalls {
					t.Errorf("%d calls after the herd, want %d", n, tc.wantCalls)
				}
				if tc.hold < 0 {
					return
				}
				if n := c.Stats().FailHolds.Load(); n != 1 {
					t.Errorf("Stats.FailHolds = %d, want 1", n)
				}
				// The upstream recovers; the key stays held until its hold ends.
				fr.fail.Store(false)
				if b := body(serve(c, "")); !strings.Contains(b, "<i>fb</i>") || fr.calls.Load() != 1 {
					t.Errorf("still within the hold: %d calls, page %s", fr.calls.Load(), b)
				}
				time.Sleep(DefaultFailHold)
				if b := body(serve(c, "")); !strings.Contains(b, "<b>ok</b>") {
					t.Errorf("after the hold: %s", b)
				}
				if n := fr.calls.Load(); n != 2 {
					t.Errorf("%d calls after the hold, want 2", n)
				}
			})
		})
	}
}

// TestHeldPrimaryShedsAtOnce: a primary whose call failed, with nothing
// stale, makes the page a 503 with Retry-After; during the hold the next
// pages are that 503 at once — no time passes in the bubble — instead of
// each waiting for a new call.
func TestHeldPrimaryShedsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fr, spec := newFailing("lead", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour})
		site := testSite([]*Spec{spec}, time.Second, "lead")
		site.Pages[0].Includes[0].Primary = true
		c := newTestComposer(t, site, Options{})
		if rec := serve(c, ""); rec.Code != 503 {
			t.Fatalf("first page: status %d", rec.Code)
		}
		t0 := time.Now()
		for range 10 {
			rec := serve(c, "")
			if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("during the hold: status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
			}
		}
		if d := time.Since(t0); d != 0 {
			t.Errorf("10 held pages took %v, want no time at all", d)
		}
		if n := fr.calls.Load(); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
}

// TestFailedRefreshIsHeld: a stale entry whose refresh failed is served
// stale, and not refreshed again by every page, until the hold has passed.
func TestFailedRefreshIsHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fr, spec := newFailing("f", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Second, Stale: time.Hour})
		fr.fail.Store(false)
		c := newTestComposer(t, testSite([]*Spec{spec}, time.Second, "f"), Options{})
		serve(c, "") // call 1: cached
		fr.fail.Store(true)
		time.Sleep(2 * time.Second) // stale now
		for range 20 {
			if b := body(serve(c, "debug=1")); !strings.Contains(b, `data-outcome="stale"`) || !strings.Contains(b, "<b>ok</b>") {
				t.Fatalf("want the stale entry: %s", b)
			}
			time.Sleep(10 * time.Millisecond) // refreshes in between fail
		}
		if n := fr.calls.Load(); n != 2 {
			t.Errorf("%d calls, want 2 (the first, one failed refresh)", n)
		}
		time.Sleep(DefaultFailHold)
		serve(c, "")
		time.Sleep(time.Second) // the refresh is launched and fails
		if n := fr.calls.Load(); n != 3 {
			t.Errorf("%d calls after the hold, want 3 (one more refresh)", n)
		}
	})
}

// TestEventRefreshIsNotHeld: an event's Refresh that failed does not hold
// the next one: its caller asked for it, and gets the error to decide.
func TestEventRefreshIsNotHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fr, spec := newFailing("f", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour})
		c := newTestComposer(t, testSite([]*Spec{spec}, time.Second, "f"), Options{})
		target := Target{Fragment: "f", Key: Key("f", Params{})}
		if _, err := c.Refresh(context.Background(), target); err == nil {
			t.Fatal("Refresh of a failing fragment: no error")
		}
		fr.fail.Store(false)
		if _, err := c.Refresh(context.Background(), target); err != nil {
			t.Fatalf("Refresh after the upstream recovered: %v", err)
		}
		if n := fr.calls.Load(); n != 2 {
			t.Errorf("%d calls, want 2", n)
		}
	})
}

// TestNewSiteReleasesHolds: a configuration change (SetSite: a live
// retune, a reload) releases the keys on hold: the next request calls at
// once — no time passes — with the new settings.
func TestNewSiteReleasesHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fr, spec := newFailing("f", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour, Fallback: "<i>fb</i>"})
		site := testSite([]*Spec{spec}, time.Second, "f")
		c := newTestComposer(t, site, Options{})
		serve(c, "") // fails: held
		fr.fail.Store(false)
		if b := body(serve(c, "")); !strings.Contains(b, "<i>fb</i>") || fr.calls.Load() != 1 {
			t.Fatalf("within the hold: %d calls, page %s", fr.calls.Load(), b)
		}
		c.SetSite(site)
		if b := body(serve(c, "")); !strings.Contains(b, "<b>ok</b>") {
			t.Errorf("after SetSite: %s", b)
		}
		if n := fr.calls.Load(); n != 2 {
			t.Errorf("%d calls, want 2", n)
		}
	})
}
