package composer

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
)

// testHold is the FailHold of the tests below (the default is off).
const testHold = time.Second

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
		{"hold of 1s", testHold, 1},
		{"default (off)", 0, 51},
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
				if tc.hold <= 0 {
					return // off: every request called, as counted above
				}
				if n := c.Stats().FailHolds.Load(); n != 1 {
					t.Errorf("Stats.FailHolds = %d, want 1", n)
				}
				// The upstream recovers; the key stays held until its hold ends.
				fr.fail.Store(false)
				if b := body(serve(c, "")); !strings.Contains(b, "<i>fb</i>") || fr.calls.Load() != 1 {
					t.Errorf("still within the hold: %d calls, page %s", fr.calls.Load(), b)
				}
				time.Sleep(testHold)
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

// TestPrimaryCallsAgainDuringHold: a failed call's hold does not answer a
// primary include — its page would be a 503 for the whole hold — so each
// page whose primary failed calls again (one call, shared by the requests
// that come while it runs), and the first call that succeeds serves the
// page at once; an include of the same key that is not primary takes the
// hold (the fallback, no call).
func TestPrimaryCallsAgainDuringHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fr, spec := newFailing("lead", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour,
			Fallback: "<i>fb</i>", FailHold: testHold})
		site := testSite([]*Spec{spec}, time.Second, "lead")
		site.Pages[0].Includes[0].Primary = true
		other := *site.Pages[0]
		other.Name, other.Path = "other", "/other"
		other.Includes = []*PageInclude{{Fragment: "lead", Slot: "main"}}
		site.Pages = append(site.Pages, &other)
		c := newTestComposer(t, site, Options{})
		if rec := serve(c, ""); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("first page: status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
		}

		// Within the hold, a page that does not make it primary gets the
		// fallback without a call.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/other", nil)
		c.Serve(rec, req, Request{Page: c.Site().Pages[1], Query: req.URL.Query(), Start: time.Now()})
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<i>fb</i>") || fr.calls.Load() != 1 {
			t.Fatalf("non-primary include during the hold: status %d, %d calls, body %s", rec.Code, fr.calls.Load(), rec.Body.String())
		}

		// Primary pages during the hold: each calls again.
		for i := range 3 {
			if rec := serve(c, ""); rec.Code != 503 {
				t.Fatalf("page %d: status %d", i, rec.Code)
			}
		}
		if n := fr.calls.Load(); n != 4 {
			t.Fatalf("%d calls, want 4: one per primary page", n)
		}
		// Concurrent ones share one call.
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() { serve(c, "") })
		}
		wg.Wait()
		if n := fr.calls.Load(); n != 5 {
			t.Fatalf("%d calls, want 5: ten concurrent pages share one", n)
		}
		// The backend recovers within the hold: the next page is served.
		fr.fail.Store(false)
		if rec := serve(c, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "<b>ok</b>") {
			t.Fatalf("after recovery: status %d, body %s", rec.Code, rec.Body.String())
		}
	})
}

// TestFailedRefreshIsHeld: a stale entry whose refresh failed is served
// stale, and not refreshed again by every page, until the hold has passed.
func TestFailedRefreshIsHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fr, spec := newFailing("f", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Second, Stale: time.Hour, FailHold: testHold})
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
		time.Sleep(testHold)
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
		fr, spec := newFailing("f", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour, FailHold: testHold})
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
		fr, spec := newFailing("f", Settings{Timeout: 50 * time.Millisecond, Fresh: time.Minute, Stale: time.Hour, Fallback: "<i>fb</i>", FailHold: testHold})
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
