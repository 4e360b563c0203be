package redisstore_test

// Tests of the composer with the Redis tier, against a real redis-server:
// round trips per level, write-back, the cross-instance stampede lock,
// purges reaching every instance, and pages surviving Redis going away.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
)

// counted is a two-level test site: a board that includes n items, every
// call counted per key and taking latency.
type counted struct {
	mu      sync.Mutex
	calls   map[string]int
	latency time.Duration
	version atomic.Int64 // what the items render, to see refreshes
}

func (c *counted) count(key string) {
	c.mu.Lock()
	c.calls[key]++
	c.mu.Unlock()
}

// maxCalls returns the largest number of calls any one key had, and the
// number of keys called.
func (c *counted) maxCalls() (max, keys int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.calls {
		max = maxInt(max, n)
	}
	return max, len(c.calls)
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func (c *counted) sleep(ctx context.Context) error {
	if c.latency == 0 {
		return nil
	}
	t := time.NewTimer(c.latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func html(s string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

func (c *counted) site(n int) *composer.Site {
	settings := composer.Settings{Timeout: 2 * time.Second, Fresh: time.Minute, Stale: time.Hour}
	item := &composer.Spec{Name: "item", Version: "1", Defaults: settings,
		Params: []composer.ParamSpec{{Name: "id", Required: true, Pattern: `[0-9]+`}},
		Render: func(ctx context.Context, p composer.Params) (templ.Component, error) {
			c.count("item?" + p.Get("id"))
			if err := c.sleep(ctx); err != nil {
				return nil, err
			}
			return html(fmt.Sprintf("<li>%s:v%d</li>", p.Get("id"), c.version.Load())), nil
		}}
	board := &composer.Spec{Name: "board", Version: "1", Defaults: settings, Includes: []string{"item"},
		Params: []composer.ParamSpec{{Name: "n", Default: fmt.Sprint(n)}},
		Render: func(ctx context.Context, p composer.Params) (templ.Component, error) {
			c.count("board")
			if err := c.sleep(ctx); err != nil {
				return nil, err
			}
			var b strings.Builder
			b.WriteString("<ol>")
			for i := range n {
				b.WriteString(composer.IncludeTag("item", "id", fmt.Sprint(i)))
			}
			b.WriteString("</ol>")
			return html(b.String()), nil
		}}
	s := &composer.Site{Limits: composer.DefaultLimits, Fragments: map[string]*composer.Fragment{}}
	s.Limits.Budget = 10 * time.Second
	s.Limits.MaxIncludes = 20000
	for _, sp := range []*composer.Spec{item, board} {
		s.Fragments[sp.Name] = &composer.Fragment{Spec: sp, Settings: sp.Defaults}
	}
	s.Pages = []*composer.Page{{Name: "p", Path: "/", Layout: "l", Includes: []*composer.PageInclude{{Fragment: "board", Slot: "main"}}}}
	return s
}

var layouts = map[string]composer.Layout{"l": func(v *composer.View) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "<html><body>")
		v.Slot("main").Render(ctx, w)
		_, err := io.WriteString(w, "</body></html>")
		return err
	})
}}

func newCounted(latency time.Duration) *counted {
	return &counted{calls: map[string]int{}, latency: latency}
}

// instance is one composer on a shared Redis, with its own client.
// With attach, it follows purges (which costs round trips of its own on
// the client: tests that count them pass false).
func instance(t *testing.T, srv *redistest.Server, site *composer.Site, l1 int64, attach bool) (*composer.Composer, *redisstore.CountingHook, *redisstore.Store) {
	t.Helper()
	store, client, hook := newStore(t, srv, generous)
	c := composer.New(site, composer.Options{Store: store, Layouts: layouts, L1Bytes: l1})
	t.Cleanup(c.Close)
	if attach {
		ctx, cancel := context.WithCancel(context.Background())
		sub := redisstore.Attach(ctx, c, client, nil)
		t.Cleanup(func() {
			cancel()
			<-sub.Done()
		})
	}
	return c, hook, store
}

func page(t *testing.T, c *composer.Composer) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/?debug=1", nil)
	c.Serve(rec, req, composer.Request{Page: c.Site().Pages[0], Start: time.Now(), Debug: true})
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	return rec.Body.String()
}

func outcomes(body string) map[string]int {
	m := map[string]int{}
	for _, o := range []string{"hit", "stale", "miss", "timeout", "error", "fallback", "placeholder"} {
		m[o] = strings.Count(body, `data-outcome="`+o+`" data-ms=`) // the includes, not the overlay
	}
	return m
}

// tripLog records the page's round trips (connection set-up aside) as
// "kind×commands": get (MGET), lock (the lock script, or SET NX), set (SET
// PX).
type tripLog struct {
	mu    sync.Mutex
	trips []string
}

func (l *tripLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *tripLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		l.add([]redis.Cmder{cmd})
		return err
	}
}

func (l *tripLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		l.add(cmds)
		return err
	}
}

func (l *tripLog) add(cmds []redis.Cmder) {
	kind := cmds[0].Name()
	n := len(cmds)
	switch {
	case kind == "evalsha" || kind == "eval":
		if c, ok := cmds[0].(*redis.Cmd); ok && c.Val() == nil {
			return // NOSCRIPT: the script was new to Redis, and go-redis sends EVAL
		}
		keys := fmt.Sprint(cmds[0].Args()[2])
		if len(cmds[0].Args()) < 4 || !strings.HasPrefix(fmt.Sprint(cmds[0].Args()[3]), "bs1:lock:") {
			return
		}
		kind = "lock"
		fmt.Sscan(keys, &n)
	case kind == "mget":
		kind, n = "get", len(cmds[0].Args())-1
	case kind == "set" && strings.HasPrefix(fmt.Sprint(cmds[0].Args()[1]), "bs1:lock:"):
		kind = "lock"
	case kind != "set":
		return // connection set-up (hello, client…)
	}
	l.mu.Lock()
	l.trips = append(l.trips, fmt.Sprintf("%s×%d", kind, n))
	l.mu.Unlock()
}

func (l *tripLog) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.trips)
	slices.Sort(out)
	return out
}

func TestOneRoundTripPerLevel(t *testing.T) {
	srv := redistest.Start(t)
	const n = 2000
	cnt := newCounted(0)
	site := cnt.site(n)

	// Instance A renders the page cold and writes it back.
	a, _, aStore := instance(t, srv, site, 0, false)
	trips := &tripLog{}
	aStore.Client().AddHook(trips)
	if o := outcomes(page(t, a)); o["miss"] != n+1 {
		t.Fatalf("cold page outcomes %v", o)
	}
	wait.For(t, "write-back", func() bool { return aStore.Stats().Sets == n+1 })
	// Cold, per level: one lookup, one lock pipeline, one write-back.
	// Cold, per level: one lookup, one lock pipeline, one write-back.
	if got := strings.Join(trips.sorted(), " "); got != "get×1 get×2000 lock×1 lock×2000 set×1 set×2000" {
		t.Errorf("cold page round trips: %s\nwant one lookup, one lock and one write-back per level", got)
	}

	// Instance B, with no in-process tier, serves it from Redis alone.
	b, bHook, _ := instance(t, srv, site, -1, false)
	page(t, b) // warms B's connections
	before, mgets := bHook.RoundTrips(), commandCalls(t, srv.Client(t), "mget")
	body := page(t, b)
	if o := outcomes(body); o["hit"] != n+1 {
		t.Fatalf("warm page outcomes %v", o)
	}
	if rt := bHook.RoundTrips() - before; rt != 2 {
		t.Errorf("warm page from Redis: %d round trips, want 2 (one per level)", rt)
	}
	if d := commandCalls(t, srv.Client(t), "mget") - mgets; d != 2 {
		t.Errorf("Redis saw %d MGETs for the page, want 2", d)
	}
	if max, keys := cnt.maxCalls(); max != 1 || keys != n+1 {
		t.Errorf("fragment calls: max %d per key over %d keys, want 1 over %d", max, keys, n+1)
	}
}

func TestNoStampedeAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	const n = 40
	cnt := newCounted(30 * time.Millisecond)
	site := cnt.site(n)
	a, _, aStore := instance(t, srv, site, 0, true)
	b, _, bStore := instance(t, srv, site, 0, true)
	ts := []*httptest.Server{}
	for _, c := range []*composer.Composer{a, b} {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Serve(w, r, composer.Request{Page: c.Site().Pages[0], Start: time.Now(), Debug: true})
		}))
		defer s.Close()
		ts = append(ts, s)
	}
	var wg sync.WaitGroup
	var complete atomic.Int32
	start := make(chan struct{})
	for i := range 200 {
		wg.Go(func() {
			<-start
			res, err := http.Get(ts[i%2].URL)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if o := outcomes(string(b)); o["miss"]+o["hit"] == n+1 {
				complete.Add(1)
			} else {
				t.Errorf("incomplete page: %v", o)
			}
		})
	}
	close(start)
	wg.Wait()
	http.DefaultClient.CloseIdleConnections()
	if max, keys := cnt.maxCalls(); max != 1 || keys != n+1 {
		cnt.mu.Lock()
		var dup []string
		for k, c := range cnt.calls {
			if c > 1 {
				dup = append(dup, fmt.Sprintf("%s×%d", k, c))
			}
		}
		cnt.mu.Unlock()
		for i, c := range []*composer.Composer{a, b} {
			st := c.Stats()
			t.Logf("instance %d: calls %d, remote waits %d, takeovers %d, abandoned %d; store %+v", i, st.Calls.Load(), st.RemoteWaits.Load(), st.RemoteTakeovers.Load(), st.Abandoned.Load(), []*redisstore.Store{aStore, bStore}[i].Stats())
		}
		t.Fatalf("200 concurrent cold requests on 2 instances: max %d calls per key over %d keys, want 1 over %d (%v)", max, keys, n+1, dup)
	}
	if complete.Load() != 200 {
		t.Fatalf("%d of 200 pages complete", complete.Load())
	}
}

func TestPurgeReachesEveryInstance(t *testing.T) {
	srv := redistest.Start(t)
	cnt := newCounted(0)
	site := cnt.site(3)
	a, _, aStore := instance(t, srv, site, 0, true)
	b, _, _ := instance(t, srv, site, 0, true)
	page(t, a)
	wait.For(t, "write-back", func() bool { return aStore.Stats().Sets == 4 })
	if o := outcomes(page(t, b)); o["hit"] != 4 {
		t.Fatalf("B before purge: %v", o)
	}
	cnt.version.Store(2)
	if _, err := a.PurgeFragment(context.Background(), "item"); err != nil {
		t.Fatal(err)
	}
	// B stops serving generation 0 of item.
	wait.For(t, "B to stop serving purged items", func() bool {
		body := page(t, b)
		return strings.Contains(body, "0:v2") && !strings.Contains(body, ":v0")
	})
}

func TestPagesSurviveRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	cnt := newCounted(0)
	site := cnt.site(50)
	store, client, _ := newStore(t, srv, redisstore.Options{Timeout: 50 * time.Millisecond, FailureThreshold: 3, OpenFor: 100 * time.Millisecond})
	c := composer.New(site, composer.Options{Store: store, Layouts: layouts})
	defer c.Close()
	_ = client
	if o := outcomes(page(t, c)); o["miss"] != 51 {
		t.Fatalf("cold: %v", o)
	}
	srv.Kill()
	// L1 keeps serving; Redis is never needed for a warm page.
	for range 5 {
		if o := outcomes(page(t, c)); o["hit"] != 51 {
			t.Fatalf("with Redis down, warm page: %v", o)
		}
	}
	// A cold fragment still renders: a Redis lookup failing is a miss.
	c.Purge("item")
	for range 5 {
		if o := outcomes(page(t, c)); o["hit"]+o["miss"] != 51 {
			t.Fatalf("with Redis down, cold items: %v", o)
		}
		c.Purge("item")
	}
	// Pages go on asking while it is down, so that a breaker that has
	// half-opened after OpenFor opens again.
	wait.For(t, "breaker open", func() bool {
		c.Purge("item")
		page(t, c)
		return store.State() == "open"
	})
	srv.Restart()
	// The same client reconnects by itself: writes land again.
	wait.For(t, "Redis back", func() bool {
		c.Purge("item")
		page(t, c)
		return store.Stats().Sets > 0 && store.State() == "closed"
	})
}

// benchTier serves the 2,000-include page through a composer on a real
// Redis, reporting Redis round trips and commands per page.
func benchTier(b *testing.B, l1 int64, cold bool, latency time.Duration) {
	srv := redistest.Start(b)
	const n = 2000
	cnt := newCounted(latency)
	site := cnt.site(n)
	store, client, hook := newStore(b, srv, generous)
	c := composer.New(site, composer.Options{Store: store, Layouts: layouts, L1Bytes: l1})
	defer c.Close()
	req := httptest.NewRequest("GET", "/", nil)
	serve := func() int {
		w := httptest.NewRecorder()
		c.Serve(w, req, composer.Request{Page: site.Pages[0], Start: time.Now()})
		return w.Body.Len()
	}
	serve()
	wait.For(b, "write-back", func() bool { return store.Stats().Sets == n+1 })
	_ = client
	rt0, cmd0 := hook.RoundTrips(), hook.Commands()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if cold {
			b.StopTimer()
			for _, f := range []string{"board", "item"} {
				if _, err := c.PurgeFragment(context.Background(), f); err != nil {
					b.Fatal(err)
				}
			}
			rt0 += 2
			cmd0 += 2
			b.StartTimer()
		}
		if serve() < n*10 {
			b.Fatal("incomplete page")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(hook.RoundTrips()-rt0)/float64(b.N), "redis-trips/page")
	b.ReportMetric(float64(hook.Commands()-cmd0)/float64(b.N), "redis-cmds/page")
}

// BenchmarkPage2000L1 serves the page from the in-process tier (Redis on).
func BenchmarkPage2000L1(b *testing.B) { benchTier(b, 0, false, 0) }

// BenchmarkPage2000RedisOnly serves it from Redis alone (in-process tier off).
func BenchmarkPage2000RedisOnly(b *testing.B) { benchTier(b, -1, false, 0) }

// BenchmarkPage2000Cold renders every include (5 ms each) and writes back.
func BenchmarkPage2000Cold(b *testing.B) { benchTier(b, 0, true, 5*time.Millisecond) }

// slowLookups delays every MGET by d (the round trip itself is real).
type slowLookups struct{ d time.Duration }

func (s slowLookups) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s slowLookups) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "mget" {
			time.Sleep(s.d)
		}
		return next(ctx, cmd)
	}
}

func (s slowLookups) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestSlowLookupIsNotTheFragmentsTimeout: a level's Store look-up that
// takes longer than its includes' timeout (but fits the page's budget and
// the Store's bound) serves them from the Store, also while the page's
// writer is already waiting for them: a fragment's timeout bounds its
// call, not the look-up before it.
func TestSlowLookupIsNotTheFragmentsTimeout(t *testing.T) {
	srv := redistest.Start(t)
	const n = 20
	cnt := newCounted(0)
	site := cnt.site(n)
	site.Fragments["item"].Settings.Timeout = 20 * time.Millisecond

	a, _, aStore := instance(t, srv, site, 0, false)
	if o := outcomes(page(t, a)); o["miss"] != n+1 {
		t.Fatalf("cold page outcomes %v", o)
	}
	wait.For(t, "write-back", func() bool { return aStore.Stats().Sets == n+1 })

	// B's board is a new version: called, and its items, in Redis, looked
	// up once it returns, while B's writer waits for the first of them.
	site2 := cnt.site(n)
	site2.Fragments["item"].Settings.Timeout = 20 * time.Millisecond
	site2.Fragments["board"].Spec.Version = "2"
	b, _, bStore := instance(t, srv, site2, -1, false)
	bStore.Client().AddHook(slowLookups{100 * time.Millisecond})
	if o := outcomes(page(t, b)); o["hit"] != n || o["miss"] != 1 {
		t.Errorf("page with 100 ms look-ups and 20 ms item timeouts: outcomes %v, want the board's miss and %d hits", o, n)
	}
	if max, _ := cnt.maxCalls(); max != 2 {
		t.Errorf("a key was called %d times, want at most twice (the board, by both instances)", max)
	}
}
