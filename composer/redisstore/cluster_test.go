package redisstore_test

// Tests of the composer on a real three-primary Redis Cluster on loopback,
// with several composer instances sharing it: one round trip per node and
// level, entries shared between instances, no stampede across instances,
// purges and live tuning reaching every instance, and pages within budget
// while a primary is killed and its replica takes over.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
	"github.com/broadsheet/broadsheet/tuning"
)

// clusterClient is a production-configured client (NewClient) for the
// cluster, with a CountingHook on the cluster client (a pipeline counts
// once) and one shared by its node clients (a pipeline counts once per
// node it reaches). It is closed when the test ends.
func clusterClient(t testing.TB, cl *redistest.Cluster) (redis.UniversalClient, *redisstore.CountingHook, *redisstore.CountingHook) {
	t.Helper()
	client, err := redisstore.NewClient(cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	cc, ok := client.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("NewClient(%s) is a %T, want a cluster client", cl.URL(), client)
	}
	hook, nodes := new(redisstore.CountingHook), new(redisstore.CountingHook)
	cc.AddHook(hook)
	cc.OnNewNode(func(c *redis.Client) { c.AddHook(nodes) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	return client, hook, nodes
}

// clusterInstance is one composer on the cluster with its own client;
// with attach it follows purges.
func clusterInstance(t testing.TB, cl *redistest.Cluster, site *composer.Site, l1 int64, attach bool, opts redisstore.Options) (*composer.Composer, *redisstore.Store, *redisstore.CountingHook) {
	t.Helper()
	client, _, nodes := clusterClient(t, cl)
	store := redisstore.New(client, opts)
	c := composer.New(site, composer.Options{Store: store, Layouts: layouts, L1Bytes: l1})
	t.Cleanup(c.Close)
	if attach {
		ctx, cancel := context.WithCancel(context.Background())
		sub := redisstore.Attach(ctx, c, client, slog.New(slog.DiscardHandler))
		t.Cleanup(func() {
			cancel()
			<-sub.Done()
		})
	}
	return c, store, nodes
}

// perNode reads a command's call count on every primary.
func perNode(t *testing.T, cl *redistest.Cluster, cmd string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, p := range cl.Primaries() {
		m[p.Addr()] = commandCalls(t, p.Client(t), cmd)
	}
	return m
}

func TestClusterGetMultiOneRoundTripPerNode(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	client, hook, nodes := clusterClient(t, cl)
	store := redisstore.New(client, generous)
	ctx := context.Background()
	es := entries(2000, 230, time.Hour)
	if err := store.SetMulti(ctx, es); err != nil {
		t.Fatal(err)
	}
	keys := storeKeys(es)
	if _, err := store.GetMulti(ctx, keys); err != nil { // warms every node's pipeline connection
		t.Fatal(err)
	}
	gets0, trips0, nodeTrips0 := perNode(t, cl, "get"), hook.RoundTrips(), nodes.RoundTrips()
	got, err := store.GetMulti(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e == nil {
			t.Fatalf("key %d missing", i)
		}
	}
	if n := hook.RoundTrips() - trips0; n != 1 {
		t.Errorf("%d pipelines on the cluster client, want 1", n)
	}
	if n := nodes.RoundTrips() - nodeTrips0; n != 3 {
		t.Errorf("%d round trips to nodes, want 3 (one per primary)", n)
	}
	var total int64
	for addr, n := range perNode(t, cl, "get") {
		d := n - gets0[addr]
		total += d
		// Keys carry no hash tag: they spread over the primaries.
		if d < 500 || d > 850 {
			t.Errorf("%s served %d of 2000 GETs, want about a third", addr, d)
		}
	}
	if total != 2000 {
		t.Errorf("primaries served %d GETs, want 2000", total)
	}
}

func TestClusterSharedEntriesOneRoundTripPerNodeAndLevel(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	const n = 2000
	cnt := newCounted(0)
	site := cnt.site(n)
	a, aStore, _ := clusterInstance(t, cl, site, 0, false, generous)
	if o := outcomes(page(t, a)); o["miss"] != n+1 {
		t.Fatalf("cold page on A: %v", o)
	}
	wait.For(t, "write-back", func() bool { return aStore.Stats().Sets == n+1 })

	// B and C, with no in-process tier, serve it from Redis alone.
	for _, name := range []string{"B", "C"} {
		b, _, nodes := clusterInstance(t, cl, site, -1, false, generous)
		page(t, b) // warms B's connections
		before := nodes.RoundTrips()
		if o := outcomes(page(t, b)); o["hit"] != n+1 {
			t.Fatalf("page warmed on A, served by %s: %v, want %d hits", name, o, n+1)
		}
		// Level 1 (the board) is one key, on one node; level 2 (2,000
		// items) is one pipeline on each of the 3 primaries.
		if rt := nodes.RoundTrips() - before; rt != 4 {
			t.Errorf("%s: %d round trips to nodes, want 4 (1 + 3)", name, rt)
		}
	}
	if max, keys := cnt.maxCalls(); max != 1 || keys != n+1 {
		t.Errorf("fragment calls: max %d per key over %d keys, want 1 over %d", max, keys, n+1)
	}
}

// servers puts each composer behind an httptest server.
func servers(t *testing.T, cs ...*composer.Composer) []*httptest.Server {
	var out []*httptest.Server
	for _, c := range cs {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Serve(w, r, composer.Request{Page: c.Site().Pages[0], Start: time.Now(), Debug: true})
		}))
		t.Cleanup(s.Close)
		out = append(out, s)
	}
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	return out
}

func TestClusterNoStampedeAcrossThreeInstances(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	const n = 40
	cnt := newCounted(30 * time.Millisecond)
	site := cnt.site(n)
	var cs []*composer.Composer
	var stores []*redisstore.Store
	for range 3 {
		c, store, _ := clusterInstance(t, cl, site, 0, true, generous)
		cs, stores = append(cs, c), append(stores, store)
	}
	defer func() {
		for i, s := range stores {
			st := cs[i].Stats()
			t.Logf("instance %d: store %+v; calls %d, remote waits %d, abandoned %d, refused %d", i, s.Stats(),
				st.Calls.Load(), st.RemoteWaits.Load(), st.Abandoned.Load(), st.Overloaded.Load())
		}
	}()
	ts := servers(t, cs...)
	var wg sync.WaitGroup
	var complete atomic.Int32
	start := make(chan struct{})
	for i := range 200 {
		wg.Go(func() {
			<-start
			// Uncompressed: 200 debug pages gzipped and gunzipped under
			// -race cost enough CPU on two shared cores to time out
			// cluster round trips, which this test is not about.
			req, _ := http.NewRequest(http.MethodGet, ts[i%3].URL, nil)
			req.Header.Set("Accept-Encoding", "identity")
			res, err := http.DefaultClient.Do(req)
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
	if max, keys := cnt.maxCalls(); max != 1 || keys != n+1 {
		t.Fatalf("200 concurrent cold requests on 3 instances: max %d calls per key over %d keys, want 1 over %d", max, keys, n+1)
	}
	if complete.Load() != 200 {
		t.Fatalf("%d of 200 pages complete", complete.Load())
	}
}

func TestClusterPurgeAndTuningReachEveryInstance(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	cnt := newCounted(0)
	site := cnt.site(3)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	type inst struct {
		c     *composer.Composer
		store *redisstore.Store
		tuner *tuning.Manager
	}
	var is []inst
	for range 3 {
		c, store, _ := clusterInstance(t, cl, site, 0, true, generous)
		tuner := tuning.NewManager(site, tuning.NewRedis(store.Client(), log), c.SetSite, log)
		stop := tuner.Start(ctx)
		t.Cleanup(stop)
		is = append(is, inst{c, store, tuner})
	}
	a, b, c := is[0], is[1], is[2]
	page(t, a.c)
	wait.For(t, "write-back", func() bool { return a.store.Stats().Sets == 4 })
	for _, x := range []inst{b, c} {
		if o := outcomes(page(t, x.c)); o["hit"] != 4 {
			t.Fatalf("before purge: %v", o)
		}
	}

	// A purge through A: within a second B and C stop serving the old
	// generation (each from its own L1, which the purge empties).
	cnt.version.Store(2)
	if _, err := a.c.PurgeFragment(ctx, "item"); err != nil {
		t.Fatal(err)
	}
	for i, x := range []inst{b, c} {
		wait.For(t, fmt.Sprintf("purge reaching instance %d", i+1), func() bool {
			body := page(t, x.c)
			return strings.Contains(body, "0:v2") && !strings.Contains(body, ":v0")
		})
	}

	// Live tuning through A: the kill switch on item, with a fallback,
	// reaches B and C within a second.
	want := site.Fragments["item"].Settings
	want.Disabled, want.Fallback = true, "<li>off</li>"
	if _, err := a.tuner.Update(ctx, "test", "item", want); err != nil {
		t.Fatal(err)
	}
	for i, x := range []inst{b, c} {
		wait.For(t, fmt.Sprintf("override reaching instance %d", i+1), func() bool {
			return outcomes(page(t, x.c))["fallback"] == 3
		})
	}
}

// TestClusterPrimaryKilled kills the primary that owns some of a page's
// keys, on a cluster with one replica per primary, while three instances
// serve the page: every page completes within its budget throughout (the
// dead node's keys are misses rendered by their fragment, the others stay
// Redis hits), the breaker stays closed, and once the replica has taken
// over, entries are shared again and purges still reach every instance.
func TestClusterPrimaryKilled(t *testing.T) {
	cl := redistest.StartClusterReplicas(t, 3, 1)
	const n = 300
	// A budget of seconds, not the production hundreds of milliseconds:
	// the test is of failover, and a loaded machine under -race cut
	// pages of 300 Redis look-ups at 250 ms.
	const budget = time.Second
	cnt := newCounted(0)
	site := cnt.site(n)
	site.Limits.Budget = budget
	var cs []*composer.Composer
	var stores []*redisstore.Store
	for range 3 {
		// L1 off: every page goes to Redis for every include. The per-call
		// timeout is 200 ms rather than the production 50 ms, which a
		// loaded test machine under -race misses too often for the counts
		// below to mean anything.
		c, store, _ := clusterInstance(t, cl, site, -1, true, redisstore.Options{Timeout: 200 * time.Millisecond})
		cs, stores = append(cs, c), append(stores, store)
	}
	page(t, cs[0])
	wait.For(t, "write-back", func() bool { return stores[0].Stats().Sets == n+1 })

	// Each round serves the page once on every instance, timing it.
	var slowest time.Duration
	total := map[string]int{}
	round := func() {
		t.Helper()
		for _, c := range cs {
			start := time.Now()
			body := page(t, c)
			d := time.Since(start)
			slowest = max(slowest, d)
			o := outcomes(body)
			for k, v := range o {
				total[k] += v
			}
			// An include the budget cut short would be a timeout: a
			// page of hits and misses only settled within its budget.
			if o["hit"]+o["miss"] != n+1 {
				t.Fatalf("incomplete page: %v", o)
			}
		}
	}
	round()

	key := composer.StoreKey("1", "item?id=0")
	victim := cl.PrimaryOf(key)
	t.Logf("killing primary %s", victim.Addr())
	victim.Kill()
	killed := time.Now()
	// Serve pages while the cluster notices and fails over.
	wait.For(t, "the replica to take over the killed primary's slots", func() bool {
		round()
		p := cl.Owner(key)
		return p != nil && p != victim
	})
	cl.WaitHealthy()
	failover := time.Since(killed)
	t.Logf("while failing over: slowest page %v; outcomes %v", slowest.Round(time.Millisecond), total)
	clear(total)
	slowest = 0
	// The replica's copy of the entries serves again: all hits.
	wait.For(t, "all hits after failover", func() bool {
		o := outcomes(page(t, cs[1]))
		return o["hit"] == n+1
	})
	for i, s := range stores {
		st := s.Stats()
		t.Logf("instance %d after failover: breaker %s, node errors %d, errors %d, rejected %d", i, s.State(), st.NodeErrors, st.Errors, st.Rejected)
		// A call whose keys all live on the dead node (the board's
		// look-up, the locks when {l} was on it) fails as a whole and
		// counts against the breaker, which may have opened; it closes
		// at its next probe once the replica serves.
		wait.For(t, fmt.Sprintf("instance %d breaker closed", i), func() bool {
			page(t, cs[i])
			return s.State() == "closed"
		})
	}
	round()
	t.Logf("failover done %v after the kill; after it: slowest page %v; outcomes %v", failover.Round(time.Millisecond), slowest.Round(time.Millisecond), total)

	// Purges still reach every instance (their subscriptions moved).
	cnt.version.Store(3)
	if _, err := cs[0].PurgeFragment(context.Background(), "item"); err != nil {
		t.Fatal(err)
	}
	for i, c := range cs[1:] {
		wait.For(t, fmt.Sprintf("purge reaching instance %d after failover", i+1), func() bool {
			body := page(t, c)
			return strings.Contains(body, "0:v3") && !strings.Contains(body, ":v0")
		})
	}
}

// BenchmarkPage2000Cluster serves the 2,000-include page from a
// three-primary Redis Cluster alone (in-process tier off), like
// BenchmarkPage2000RedisOnly on a single node. redis-trips/page counts
// round trips to nodes (a pipeline reaching three nodes is three).
func BenchmarkPage2000Cluster(b *testing.B) {
	cl := redistest.StartCluster(b, 3)
	const n = 2000
	cnt := newCounted(0)
	site := cnt.site(n)
	client, _, nodes := clusterClient(b, cl)
	store := redisstore.New(client, generous)
	c := composer.New(site, composer.Options{Store: store, Layouts: layouts, L1Bytes: -1})
	defer c.Close()
	req := httptest.NewRequest("GET", "/", nil)
	serve := func() int {
		w := httptest.NewRecorder()
		c.Serve(w, req, composer.Request{Page: site.Pages[0], Start: time.Now()})
		return w.Body.Len()
	}
	serve()
	wait.For(b, "write-back", func() bool { return store.Stats().Sets == n+1 })
	serve() // warm every node's connections
	rt0, cmd0 := nodes.RoundTrips(), nodes.Commands()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if serve() < n*10 {
			b.Fatal("incomplete page")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(nodes.RoundTrips()-rt0)/float64(b.N), "redis-trips/page")
	b.ReportMetric(float64(nodes.Commands()-cmd0)/float64(b.N), "redis-cmds/page")
	if st := store.Stats(); st.Hits < int64(b.N)*(n+1) {
		b.Fatalf("stats %+v: not every include was a Redis hit", st)
	}
}
