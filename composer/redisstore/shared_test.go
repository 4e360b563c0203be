package redisstore_test

// Tests of the cross-instance lock's waiting side against a real
// redis-server: an instance that did not get a key's lock waits for the
// holder as long as the lock is held, takes over only once the holder
// lets it go without a result, and stale entries are refreshed once across
// instances.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
)

// TestWaiterWaitsWhileLockHeld: the holder's calls take 60% of their
// timeout. The other instance waits for them (it used to take over at half
// the timeout and call every key a second time): one call per key.
func TestWaiterWaitsWhileLockHeld(t *testing.T) {
	srv := redistest.Start(t)
	const n = 10
	cnt := newCounted(600 * time.Millisecond)
	site := cnt.site(n)
	for _, f := range site.Fragments {
		f.Settings.Timeout = time.Second
	}
	a, _, _ := instance(t, srv, site, 0, false)
	b, _, _ := instance(t, srv, site, 0, false)
	var wg sync.WaitGroup
	var pageA string
	wg.Go(func() { pageA = page(t, a) })
	wait.For(t, "instance a's call", func() bool { _, keys := cnt.maxCalls(); return keys == 1 })
	pageB := page(t, b)
	wg.Wait()
	for name, body := range map[string]string{"a": pageA, "b": pageB} {
		if o := outcomes(body); o["miss"]+o["hit"] != n+1 {
			t.Errorf("instance %s: outcomes %v, want every include with content", name, o)
		}
	}
	if max, keys := cnt.maxCalls(); max != 1 || keys != n+1 {
		t.Errorf("fragment calls: max %d per key over %d keys, want 1 over %d", max, keys, n+1)
	}
	if st := b.Stats(); st.RemoteWaits.Load() == 0 || st.RemoteTakeovers.Load() != 0 {
		t.Errorf("instance b: remote waits %d, takeovers %d; want some and none", st.RemoteWaits.Load(), st.RemoteTakeovers.Load())
	}
}

// flakySite is a one-include page whose fragment's first call blocks
// until fail is closed and then fails; later calls succeed. started is
// told of every call. The timeout (so the lock's life) and the budget are
// far longer than the test.
func flakySite(hold time.Duration) (site *composer.Site, calls *atomic.Int32, started, fail chan struct{}) {
	calls = new(atomic.Int32)
	started = make(chan struct{}, 4)
	fail = make(chan struct{})
	spec := &composer.Spec{Name: "flaky", Version: "1",
		Defaults: composer.Settings{Timeout: time.Hour, Fresh: time.Minute, Stale: time.Hour, Fallback: "<i>fallback</i>", FailHold: hold},
		Render: func(ctx context.Context, _ composer.Params) (templ.Component, error) {
			started <- struct{}{}
			if calls.Add(1) == 1 {
				<-fail
				return nil, errors.New("flaky: failed")
			}
			return html("<b>flaky</b>"), nil
		}}
	site = &composer.Site{Limits: composer.DefaultLimits, Fragments: map[string]*composer.Fragment{
		"flaky": {Spec: spec, Settings: spec.Defaults}}}
	site.Limits.Budget = time.Minute
	site.Pages = []*composer.Page{{Name: "p", Path: "/", Layout: "l", Includes: []*composer.PageInclude{{Fragment: "flaky", Slot: "main"}}}}
	return site, calls, started, fail
}

// holderFails serves the page on a (whose call blocks), then on b (which
// waits for a's lock), then fails a's call, and returns both pages.
func holderFails(t *testing.T, a, b *composer.Composer, started, fail chan struct{}) (pageA, pageB string) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { pageA = page(t, a) })
	<-started // a holds the lock and calls
	wg.Go(func() { pageB = page(t, b) })
	wait.For(t, "instance b waiting for a", func() bool { return b.Stats().RemoteWaits.Load() == 1 })
	close(fail)
	wg.Wait()
	return pageA, pageB
}

// TestTakeOverWhenHolderFails: with the failure hold off (FailHold < 0),
// the holder whose call fails releases the lock, and the waiting instance
// calls at once (not when the lock would have expired) and serves the
// result. Had b waited for the lock to expire, its include would have
// ended at the budget with the fallback — no clock is read.
func TestTakeOverWhenHolderFails(t *testing.T) {
	srv := redistest.Start(t)
	site, calls, started, fail := flakySite(-1)
	a, _, _ := instance(t, srv, site, 0, false)
	b, _, _ := instance(t, srv, site, 0, false)
	pageA, pageB := holderFails(t, a, b, started, fail)
	if !strings.Contains(pageA, "<i>fallback</i>") {
		t.Errorf("instance a (its call failed): %s", pageA)
	}
	if !strings.Contains(pageB, "<b>flaky</b>") {
		t.Errorf("instance b (took over): %s", pageB)
	}
	if n, k := calls.Load(), b.Stats().RemoteTakeovers.Load(); n != 2 || k != 1 {
		t.Errorf("%d calls, %d takeovers by b; want 2 and 1", n, k)
	}
}

// TestFailureHeldAcrossInstances: with a failure hold, the holder whose
// call fails leaves a failure marker in place of its lock. The instance
// waiting for it does not take over: it serves the fallback at once (its
// budget is a minute: no clock is read), and neither instance calls the
// key again: later pages on both get the fallback without a call. The hold
// is a minute, far longer than the test; TestFailureHoldEnds covers its end.
func TestFailureHeldAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	site, calls, started, fail := flakySite(time.Minute)
	a, _, _ := instance(t, srv, site, 0, false)
	b, _, _ := instance(t, srv, site, 0, false)
	pageA, pageB := holderFails(t, a, b, started, fail)
	for name, body := range map[string]string{"a": pageA, "b": pageB} {
		if !strings.Contains(body, "<i>fallback</i>") {
			t.Errorf("instance %s: %s, want the fallback", name, body)
		}
	}
	if n, k, f := calls.Load(), b.Stats().RemoteTakeovers.Load(), b.Stats().RemoteFailures.Load(); n != 1 || k != 0 || f != 1 {
		t.Errorf("%d calls, %d takeovers and %d remote failures on b; want 1, 0 and 1", n, k, f)
	}
	if h := a.Stats().FailHolds.Load(); h != 1 {
		t.Errorf("a: %d failure holds, want 1", h)
	}
	// Within the hold: no call on either instance, including one whose
	// flight is new (c).
	c, _, _ := instance(t, srv, site, 0, false)
	for _, inst := range []*composer.Composer{a, b, c, a, b, c} {
		if body := page(t, inst); !strings.Contains(body, "<i>fallback</i>") {
			t.Errorf("during the hold: %s", body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls during the hold, want none after the first", n)
	}
	if f := c.Stats().RemoteFailures.Load(); f != 1 {
		t.Errorf("c: %d remote failures, want 1 (the marker)", f)
	}
}

// TestFailureHoldEnds: once another instance's failure hold ends, the next
// page calls the key, once, and gets content.
func TestFailureHoldEnds(t *testing.T) {
	srv := redistest.Start(t)
	site, calls, started, fail := flakySite(300 * time.Millisecond)
	a, _, _ := instance(t, srv, site, 0, false)
	b, _, _ := instance(t, srv, site, 0, false)
	holderFails(t, a, b, started, fail)
	wait.For(t, "a call after the hold", func() bool {
		return strings.Contains(page(t, b), "<b>flaky</b>")
	})
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls in all, want 2", n)
	}
}

// TestPrimaryIgnoresHoldElsewhere: an instance whose page makes the key
// primary does not take another instance's failure marker for an answer
// (the page would be a 503 for the whole hold): it calls, and serves the
// result (TestFailureHeldAcrossInstances covers the pages that do not make
// it primary).
func TestPrimaryIgnoresHoldElsewhere(t *testing.T) {
	srv := redistest.Start(t)
	site, calls, started, fail := flakySite(time.Hour)
	primarySite := *site
	pg := *site.Pages[0]
	pg.Includes = []*composer.PageInclude{{Fragment: "flaky", Slot: "main", Primary: true}}
	primarySite.Pages = []*composer.Page{&pg}
	a, _, _ := instance(t, srv, site, 0, false)
	b, _, _ := instance(t, srv, &primarySite, 0, false)
	pageA, pageB := holderFails(t, a, b, started, fail)
	if !strings.Contains(pageA, "<i>fallback</i>") {
		t.Errorf("instance a (its call failed): %s", pageA)
	}
	if !strings.Contains(pageB, "<b>flaky</b>") {
		t.Errorf("instance b (primary): %s, want the content of its own call", pageB)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

// TestNewSiteIgnoresOlderHold: an instance whose configuration changed
// after another instance's call failed (a live retune reaches every
// instance) does not honour that failure's hold: it calls at once, without
// waiting for the hold to end (it lasts an hour here).
func TestNewSiteIgnoresOlderHold(t *testing.T) {
	srv := redistest.Start(t)
	site, calls, started, fail := flakySite(time.Hour)
	a, _, _ := instance(t, srv, site, 0, false)
	b, _, _ := instance(t, srv, site, 0, false)
	holderFails(t, a, b, started, fail)
	if body := page(t, b); !strings.Contains(body, "<i>fallback</i>") || calls.Load() != 1 {
		t.Fatalf("b within the hold: %d calls, page %s", calls.Load(), body)
	}
	b.SetSite(site)
	if body := page(t, b); !strings.Contains(body, "<b>flaky</b>") {
		t.Errorf("b after SetSite: %s", body)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

// TestOneRefreshAcrossInstances: once every entry is stale, concurrent
// pages on two instances serve it at once — stale, or fresh again for a
// page that starts after its refresh has landed, never a call of its own —
// and the two instances refresh each key once between them; the one
// without the lock picks up the other's result.
func TestOneRefreshAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	const n = 20
	const fresh = 3 * time.Second
	cnt := newCounted(50 * time.Millisecond)
	site := cnt.site(n)
	for _, f := range site.Fragments {
		f.Settings.Fresh = fresh
	}
	a, _, aStore := instance(t, srv, site, 0, false)
	b, _, _ := instance(t, srv, site, 0, false)
	page(t, a)
	wait.For(t, "write-back", func() bool { return aStore.Stats().Sets == n+1 })
	if o := outcomes(page(t, b)); o["hit"] != n+1 {
		t.Fatalf("instance b, warm from Redis: %v", o)
	}
	time.Sleep(fresh + 100*time.Millisecond)
	cnt.version.Store(2)
	var wg sync.WaitGroup
	for i := range 40 {
		c := []*composer.Composer{a, b}[i%2]
		wg.Go(func() {
			if o := outcomes(page(t, c)); o["stale"]+o["hit"] != n+1 {
				t.Errorf("a page of the stale herd: %v, want every include stale or refreshed", o)
			}
		})
	}
	wg.Wait()
	// Both instances end up serving the refreshed entries fresh, which
	// also ends every wait for another instance's refresh.
	for _, c := range []*composer.Composer{a, b} {
		wait.For(t, "refreshed entries", func() bool {
			body := page(t, c)
			return outcomes(body)["hit"] == n+1 && strings.Count(body, ":v2") == n
		})
	}
	if max, keys := cnt.maxCalls(); max != 2 || keys != n+1 {
		t.Errorf("fragment calls: max %d per key over %d keys, want 2 (first render, one refresh)", max, keys)
	}
	ra, rb := a.Stats().Refreshes.Load(), b.Stats().Refreshes.Load()
	if ra+rb != n+1 {
		t.Errorf("refresh calls: %d on a, %d on b; want %d in all", ra, rb, n+1)
	}
}

// TestTryLockMultiHolders: a holder retrying its lock call (after a
// timeout that may have taken the locks) finds them its own; another holder
// does not; Unlock releases only the holder's own lock.
func TestTryLockMultiHolders(t *testing.T) {
	srv := redistest.Start(t)
	store, _, _ := newStore(t, srv, generous)
	ctx := context.Background()
	keys := []string{"k1", "k2"}
	try := func(holder string, keys ...string) []bool {
		t.Helper()
		locks, err := store.TryLockMulti(ctx, keys, holder, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		held := make([]bool, len(locks))
		for i, l := range locks {
			held[i] = l.Held
		}
		return held
	}
	if got := try("a", keys...); !got[0] || !got[1] {
		t.Fatalf("a, free locks: %v", got)
	}
	if got := try("b", append(keys, "k3")...); got[0] || got[1] || !got[2] {
		t.Fatalf("b: %v, want k1 and k2 refused, k3 taken", got)
	}
	if got := try("a", append(keys, "k3")...); !got[0] || !got[1] || got[2] {
		t.Fatalf("a again: %v, want its own k1 and k2, not b's k3", got)
	}
	if err := store.Unlock(ctx, "k1", "b"); err != nil {
		t.Fatal(err)
	}
	if got := try("b", "k1"); got[0] {
		t.Fatal("b's Unlock released a's lock")
	}
	if err := store.Unlock(ctx, "k1", "a"); err != nil {
		t.Fatal(err)
	}
	if got := try("b", "k1"); !got[0] {
		t.Fatal("a's Unlock did not release its lock")
	}
}

// slowSets holds back every pipeline of SETs begun before until by d, or
// until its call's context ends: a Store that is slow (not down) to take
// a write-back.
type slowSets struct {
	d     time.Duration
	until time.Time
}

func (s slowSets) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s slowSets) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (s slowSets) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "set" && time.Now().Before(s.until) {
			select {
			case <-time.After(s.d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return next(ctx, cmds)
	}
}

// TestWriteBackLastsAsLongAsTheLock: the lock holder's write-back takes
// longer than a write-back's usual bound (1 s) but less than the key's
// lock lasts (timeout 2 s + grace). The other instance, waiting for the
// holder's results as long as the lock is held, gets them from the Store:
// the holder keeps trying while the others wait, and nobody calls a key
// twice. (Under load this was TestNoStampedeAcrossInstances's flake: one
// slow SET spent the second, and the waiter took over once the lock
// lapsed.)
func TestWriteBackLastsAsLongAsTheLock(t *testing.T) {
	srv := redistest.Start(t)
	const n = 3
	cnt := newCounted(0)
	site := cnt.site(n)
	a, _, aStore := instance(t, srv, site, 0, false)
	b, _, _ := instance(t, srv, site, 0, false)
	aStore.Client().AddHook(slowSets{d: 1500 * time.Millisecond, until: time.Now().Add(time.Second)})
	if o := outcomes(page(t, a)); o["miss"] != n+1 {
		t.Fatalf("instance a: outcomes %v, want %d misses", o, n+1)
	}
	// A's locks last 2.5 s from now; its write-back lands 1.5 s from now.
	if o := outcomes(page(t, b)); o["miss"]+o["hit"] != n+1 {
		t.Errorf("instance b: outcomes %v, want every include with content (a's, from the Store)", o)
	}
	if max, keys := cnt.maxCalls(); max != 1 || keys != n+1 {
		t.Errorf("fragment calls: max %d per key over %d keys, want 1 over %d", max, keys, n+1)
	}
	if st := aStore.Stats(); st.Errors != 0 {
		t.Errorf("instance a's Store: %+v, want no errors (the write-back retried until it landed)", st)
	}
}
