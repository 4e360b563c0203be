package composer

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer/internal/launch"
)

// blocking is a fragment whose calls start (counted, reported on started)
// and then wait for release or their context; each call's context error
// (nil when released) is sent on ended.
type blocking struct {
	calls   atomic.Int32
	started chan struct{}
	release chan struct{}
	ended   chan error
}

func newBlocking(name string, timeout time.Duration) (*blocking, *Spec) {
	b := &blocking{started: make(chan struct{}, 16), release: make(chan struct{}), ended: make(chan error, 16)}
	s := static(name, "")
	s.Defaults = Settings{Timeout: timeout, Fresh: time.Minute, Stale: time.Hour}
	s.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
		b.calls.Add(1)
		b.started <- struct{}{}
		select {
		case <-b.release:
			b.ended <- nil
			return text("<b>" + name + "</b>"), nil
		case <-ctx.Done():
			b.ended <- ctx.Err()
			return nil, ctx.Err()
		}
	}
	return b, s
}

// serveAsync serves the site's page for a client whose connection ends
// when the returned cancel is called; done is closed when Serve returns.
func serveAsync(c *Composer, query string) (rec *httptest.ResponseRecorder, leave context.CancelFunc, done chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/?"+query, nil).WithContext(ctx)
	rec = httptest.NewRecorder()
	done = make(chan struct{})
	go func() {
		defer close(done)
		c.Serve(rec, req, Request{Page: c.Site().Pages[0], Query: req.URL.Query(), Start: time.Now(), Debug: strings.Contains(query, "debug=1")})
	}()
	return rec, cancel, done
}

// TestClientLeavingCancelsItsCall: when the only request waiting for a
// call goes away, the call's context is cancelled at once (no time passes
// in the bubble), not at the fragment's ten-minute timeout.
func TestClientLeavingCancelsItsCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, slow := newBlocking("slow", 10*time.Minute)
		c := newTestComposer(t, testSite([]*Spec{slow}, time.Hour, "slow"), Options{})
		_, leave, done := serveAsync(c, "")
		<-b.started
		left := time.Now()
		leave()
		<-done
		err := <-b.ended
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the call's context ended with %v, want context.Canceled", err)
		}
		if el := time.Since(left); el != 0 {
			t.Errorf("the call was cancelled %v after the client left, want at once", el)
		}
		synctest.Wait()
		if n := c.Stats().Cancelled.Load(); n != 1 {
			t.Errorf("Stats.Cancelled = %d, want 1", n)
		}
		// The key is free again: the next request calls afresh.
		_, leave2, done2 := serveAsync(c, "")
		<-b.started
		close(b.release)
		<-done2
		leave2()
		if n := b.calls.Load(); n != 2 {
			t.Errorf("%d calls, want 2", n)
		}
	})
}

// TestSharedCallOutlivesOneClient: a call two requests wait for keeps
// running when one of them leaves, and the other gets its result.
func TestSharedCallOutlivesOneClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, slow := newBlocking("slow", 10*time.Minute)
		c := newTestComposer(t, testSite([]*Spec{slow}, time.Hour, "slow"), Options{})
		_, leave1, done1 := serveAsync(c, "")
		<-b.started
		rec2, leave2, done2 := serveAsync(c, "debug=1")
		defer leave2()
		synctest.Wait() // the second request waits for the same call
		leave1()
		<-done1
		synctest.Wait()
		select {
		case err := <-b.ended:
			t.Fatalf("the shared call ended (%v) when one of its two clients left", err)
		default:
		}
		close(b.release)
		<-done2
		if err := <-b.ended; err != nil {
			t.Fatalf("the shared call ended with %v", err)
		}
		if got := body(rec2); !strings.Contains(got, "<b>slow</b>") || !strings.Contains(got, `data-outcome="miss"`) {
			t.Errorf("the remaining client's page: %s", got)
		}
		if n, k := b.calls.Load(), c.Stats().Cancelled.Load(); n != 1 || k != 0 {
			t.Errorf("%d calls, %d cancelled; want 1 and 0", n, k)
		}
	})
}

// TestServedPageLeavesLateCallsRunning: a page served in full (its include
// given its fallback at the budget) is not a client leaving: the include's
// call finishes in the background and fills the cache.
func TestServedPageLeavesLateCallsRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, slow := newBlocking("slow", 10*time.Minute)
		c := newTestComposer(t, testSite([]*Spec{slow}, 100*time.Millisecond, "slow"), Options{})
		rec, leave, done := serveAsync(c, "debug=1")
		<-b.started
		<-done // at the budget
		leave()
		if got := body(rec); !strings.Contains(got, `data-outcome="timeout"`) {
			t.Fatalf("page at the budget: %s", got)
		}
		synctest.Wait()
		select {
		case err := <-b.ended:
			t.Fatalf("the call ended (%v) when its page was served", err)
		default:
		}
		close(b.release)
		if err := <-b.ended; err != nil {
			t.Fatalf("the call ended with %v", err)
		}
		synctest.Wait()
		if got := body(serve(c, "debug=1")); !strings.Contains(got, `data-outcome="hit"`) {
			t.Errorf("after the late call: %s", got)
		}
	})
}

// TestRefreshIsNoClients: a background refresh started by a request whose
// client then leaves keeps running and replaces the stale entry.
func TestRefreshIsNoClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var version atomic.Int32
		refreshing := make(chan struct{})
		release := make(chan struct{})
		ended := make(chan error, 1)
		f := static("f", "")
		f.Defaults = Settings{Timeout: 10 * time.Minute, Fresh: time.Second, Stale: time.Hour}
		f.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
			if v := version.Add(1); v > 1 {
				close(refreshing)
				select {
				case <-release:
				case <-ctx.Done():
					ended <- ctx.Err()
					return nil, ctx.Err()
				}
			}
			ended <- nil
			return text("<b>v" + string(rune('0'+version.Load())) + "</b>"), nil
		}
		b, slow := newBlocking("slow", 10*time.Minute)
		slow.Defaults.Fresh, slow.Defaults.Stale = 0, 0 // called by every page
		c := newTestComposer(t, testSite([]*Spec{f, slow}, time.Hour, "f", "slow"), Options{})
		// First page: f rendered (v1), slow released.
		go func() { <-b.started; b.release <- struct{}{} }()
		serve(c, "")
		<-ended
		time.Sleep(2 * time.Second) // f is stale now
		_, leave, done := serveAsync(c, "")
		<-refreshing // the stale f is being refreshed
		<-b.started  // and the page waits for slow
		leave()
		<-done
		synctest.Wait()
		select {
		case err := <-ended:
			t.Fatalf("the refresh ended (%v) when the client that triggered it left", err)
		default:
		}
		close(release)
		if err := <-ended; err != nil {
			t.Fatalf("the refresh ended with %v", err)
		}
		synctest.Wait()
		go func() { <-b.started; b.release <- struct{}{} }()
		if got := body(serve(c, "debug=1")); !strings.Contains(got, "<b>v2</b>") {
			t.Errorf("after the refresh: %s", got)
		}
	})
}

// TestLateCallIsShed: a call whose goroutine starts after every include
// waiting for it has passed its deadline is not made when no cache tier
// would keep its result; it is made when one would, when its waiters still
// have time, and when nothing but a refresh waits (pinned).
func TestLateCallIsShed(t *testing.T) {
	cases := []struct {
		name         string
		l1           bool
		fresh, stale time.Duration
		late, pinned bool
		wantCall     bool
	}{
		{name: "late, no cache tier", late: true, fresh: time.Minute, stale: time.Hour},
		{name: "late, uncacheable result", l1: true, late: true},
		{name: "late, L1 keeps it", l1: true, late: true, fresh: time.Minute, wantCall: true},
		{name: "in time, no cache tier", fresh: time.Minute, wantCall: true},
		{name: "late, pinned", late: true, pinned: true, wantCall: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				s := static("f", "<b>f</b>")
				s.Defaults.Fresh, s.Defaults.Stale = tc.fresh, tc.stale
				inner := s.Render
				s.Render = func(ctx context.Context, p Params) (templ.Component, error) {
					calls.Add(1)
					return inner(ctx, p)
				}
				site := testSite([]*Spec{s}, time.Second, "f")
				// Both set by the operator: the result cannot bring lifetimes of its own.
				site.Fragments["f"].Origin = map[string]string{"fresh": "site.yaml", "stale": "site.yaml"}
				opts := Options{L1Bytes: -1}
				if tc.l1 {
					opts.L1Bytes = 0
				}
				c := newTestComposer(t, site, opts)
				f := c.Site().Fragments["f"]
				until := time.Now().Add(time.Second)
				if tc.late {
					until = time.Now().Add(-time.Millisecond) // its page gave up before the call started
				}
				var p *party
				if !tc.pinned {
					p = newParty(t.Context())
				}
				got := make(chan error, 1)
				c.flights.Join(p, "f", until, false, time.Time{}, waiter{fn: func(_ *Entry, err error, _ bool, _ time.Time) { got <- err }}, func(fl *flight) {
					c.call(&start{fl: fl, site: c.Site(), f: f, key: "f", version: c.version(f)})
				}, nil)
				err := <-got
				synctest.Wait()
				if made := calls.Load() == 1; made != tc.wantCall {
					t.Fatalf("call made: %v, want %v (waiter got %v)", made, tc.wantCall, err)
				}
				shed := c.Stats().Shed.Load()
				if tc.wantCall && (err != nil || shed != 0) {
					t.Errorf("waiter got %v, Stats.Shed %d; want the entry and 0", err, shed)
				}
				if !tc.wantCall && (!errors.Is(err, errTimeout) || shed != 1) {
					t.Errorf("waiter got %v, Stats.Shed %d; want errTimeout and 1", err, shed)
				}
				// The key is free: the next request with time left calls.
				if !tc.wantCall {
					c.flights.Join(newParty(t.Context()), "f", time.Now().Add(time.Second), false, time.Time{}, waiter{fn: func(_ *Entry, err error, _ bool, _ time.Time) { got <- err }}, func(fl *flight) {
						c.call(&start{fl: fl, site: c.Site(), f: f, key: "f", version: c.version(f)})
					}, nil)
					if err := <-got; err != nil || calls.Load() != 1 {
						t.Errorf("the next request: %v, %d calls; want its entry from one call", err, calls.Load())
					}
				}
			})
		})
	}
}

// TestQueuedIncludeWaitsWithinItsBudget: an include whose call waits in
// the launcher's queue longer than its fragment's timeout is delayed, not
// failed, while its page's budget lasts — queueing inside the composer is
// not the fragment's slowness — and once its call starts, the fragment's
// timeout bounds the call, counted from that start.
func TestQueuedIncludeWaitsWithinItsBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hangs   bool
		took    time.Duration
		outcome string
	}{
		// The parent's 10 ms, 100 ms in the queue, then the call.
		{"served after the queue", false, 110 * time.Millisecond, `data-fragment="slow" data-outcome="miss"`},
		{"times out from its start", true, 160 * time.Millisecond, `data-fragment="slow" data-outcome="timeout"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, slow := newBlocking("slow", 50*time.Millisecond)
				if !tc.hangs {
					close(b.release)
				}
				parent := static("parent", IncludeTag("slow"))
				parent.Includes = []string{"slow"}
				var l *launch.Launcher[*start]
				parent.Render = func(context.Context, Params) (templ.Component, error) {
					l.SetRoom(0)                      // the child's call will wait in the queue
					time.Sleep(10 * time.Millisecond) // the writer waits for the parent meanwhile
					return text(IncludeTag("slow")), nil
				}
				parent.Defaults.Timeout = time.Second
				c := newTestComposer(t, testSite([]*Spec{parent, slow}, time.Hour, "parent"), Options{})
				l = c.launcher
				t0 := time.Now()
				rec, _, done := serveAsync(c, "debug=1")
				var took time.Duration
				finished := make(chan struct{})
				go func() { <-done; took = time.Since(t0); close(finished) }()
				time.Sleep(110 * time.Millisecond)
				if c.Stats().Calls.Load() != 1 {
					t.Fatal("the child's call did not wait in the queue")
				}
				l.SetRoom(1) // let the queued call go
				<-finished
				if took != tc.took {
					t.Errorf("page took %v, want %v", took, tc.took)
				}
				if got := body(rec); !strings.Contains(got, tc.outcome) {
					t.Errorf("page lacks %s: %s", tc.outcome, got)
				}
				synctest.Wait()
			})
		})
	}
}

// TestLatePrimaryIsStillThePage: a primary whose call passes its
// fragment's timeout but returns within the page's budget (a call only
// scheduled late, or a fragment that ignores its context) is the page, not
// a 503; a primary that returns nothing by the budget is still a 503 then.
func TestLatePrimaryIsStillThePage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		takes  time.Duration
		status int
		at     time.Duration
	}{
		{"late within the budget", 80 * time.Millisecond, 200, 80 * time.Millisecond},
		{"past the budget", 300 * time.Millisecond, 503, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lead := static("lead", "")
				lead.Defaults.Timeout = 50 * time.Millisecond
				lead.Render = func(context.Context, Params) (templ.Component, error) {
					time.Sleep(tc.takes) // ignores its context
					return text("<h1>lead</h1>"), nil
				}
				site := testSite([]*Spec{lead}, 200*time.Millisecond, "lead")
				site.Pages[0].Includes[0].Primary = true
				c := newTestComposer(t, site, Options{})
				t0 := time.Now()
				rec := serve(c, "")
				if rec.Code != tc.status || time.Since(t0) != tc.at {
					t.Errorf("status %d after %v, want %d after %v: %s", rec.Code, time.Since(t0), tc.status, tc.at, body(rec))
				}
				synctest.Wait()
			})
		})
	}
}

// TestCallGrace: at its deadline, a call is granted grace for as long as
// the machine's goroutines run late (Composer.late, read from the
// scheduler in production), up to its timeout again: a call that returns
// within it is served, one that hangs is cut off at its end; with no
// lateness, the timeout alone.
func TestCallGrace(t *testing.T) {
	const late = 30 * time.Millisecond
	for _, tc := range []struct {
		name    string
		late    func() time.Duration
		answer  time.Duration // after its call starts; 0: never
		took    time.Duration
		outcome string
	}{
		{"answered within the grace", func() time.Duration { return late }, 70 * time.Millisecond, 70 * time.Millisecond, "miss"},
		{"answered late on a quiet machine", nil, 70 * time.Millisecond, 50 * time.Millisecond, "timeout"},
		{"hangs on a late machine", func() time.Duration { return late }, 0, 100 * time.Millisecond, "timeout"}, // 50 + 30 + 20
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, slow := newBlocking("slow", 50*time.Millisecond)
				parent := static("parent", IncludeTag("slow"))
				parent.Includes = []string{"slow"}
				parent.Defaults.Timeout = time.Second
				c := newTestComposer(t, testSite([]*Spec{parent, slow}, time.Hour, "parent"), Options{})
				c.late = tc.late
				answered := make(chan struct{})
				go func() {
					defer close(answered)
					<-b.started
					if tc.answer > 0 {
						time.Sleep(tc.answer)
						close(b.release)
					}
				}()
				t0 := time.Now()
				rec := serve(c, "debug=1")
				if took := time.Since(t0); took != tc.took {
					t.Errorf("page took %v, want %v", took, tc.took)
				}
				if want := `data-fragment="slow" data-outcome="` + tc.outcome + `"`; !strings.Contains(body(rec), want) {
					t.Errorf("page lacks %s: %s", want, body(rec))
				}
				if tc.answer == 0 {
					close(b.release)
				}
				<-answered
				synctest.Wait()
			})
		})
	}
}
