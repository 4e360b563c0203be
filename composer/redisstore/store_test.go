package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-redis retries a failed dial from a goroutine that sleeps a
		// second between tries and only notices the pool closed when it
		// wakes: after the outage tests it outlives the client briefly.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// newStore returns a Store over a production-configured client (NewClient)
// for srv, with a CountingHook on the client. The client is closed when the
// test ends.
func newStore(t testing.TB, srv *redistest.Server, opts redisstore.Options) (*redisstore.Store, redis.UniversalClient, *redisstore.CountingHook) {
	t.Helper()
	client, err := redisstore.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	hook := new(redisstore.CountingHook)
	client.AddHook(hook)
	// Warm a connection so that the counts below see only our calls.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	return redisstore.New(client, opts), client, hook
}

// generous is a per-call timeout that -race and a busy machine cannot miss.
var generous = redisstore.Options{Timeout: 5 * time.Second}

func entries(n, htmlLen int, life time.Duration) []*composer.Entry {
	now := time.Now()
	html := strings.Repeat("x", htmlLen)
	out := make([]*composer.Entry, n)
	for i := range out {
		out[i] = &composer.Entry{
			Key:        "score?match=" + strconv.Itoa(i),
			Version:    "v1",
			HTML:       []byte(fmt.Sprintf("<p>%d</p>%s", i, html)),
			Assets:     []string{"/static/score.css"},
			Created:    now,
			FreshUntil: now.Add(life / 2),
			StaleUntil: now.Add(life),
		}
	}
	return out
}

func storeKeys(es []*composer.Entry) []string {
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = composer.StoreKey(e.Version, e.Key)
	}
	return keys
}

// commandCalls reads a command's call count from Redis's INFO commandstats.
func commandCalls(t *testing.T, c redis.UniversalClient, cmd string) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 0
}

func TestSetMultiGetMulti2000OneRoundTripEach(t *testing.T) {
	srv := redistest.Start(t)
	store, client, hook := newStore(t, srv, generous)
	ctx := context.Background()
	es := entries(2000, 300, time.Hour)

	// Warm the pipeline pool's connection: its HELLO is a round trip too.
	if err := store.SetMulti(ctx, es[:1]); err != nil {
		t.Fatal(err)
	}
	before := hook.RoundTrips()
	if err := store.SetMulti(ctx, es); err != nil {
		t.Fatal(err)
	}
	if got := hook.RoundTrips() - before; got != 1 {
		t.Fatalf("SetMulti of 2000 took %d round trips, want 1", got)
	}
	for _, k := range []string{storeKeys(es)[0], storeKeys(es)[1999]} {
		if ttl := client.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Fatalf("PTTL %s = %v, want in (0, 1h]", k, ttl)
		}
	}

	keys := append(storeKeys(es), "bs1:v1:absent")
	// A new connection costs a HELLO, which the hook counts too; warm the
	// main pool's connection first (SetMulti above warmed the pipeline's).
	if _, err := store.GetMulti(ctx, keys[:1]); err != nil {
		t.Fatal(err)
	}
	mgetBefore := commandCalls(t, client, "mget")
	before = hook.RoundTrips()
	got, err := store.GetMulti(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if n := hook.RoundTrips() - before; n != 1 {
		t.Fatalf("GetMulti of %d keys took %d round trips, want 1", len(keys), n)
	}
	if n := commandCalls(t, client, "mget") - mgetBefore; n != 1 {
		t.Fatalf("Redis saw %d MGET calls, want 1", n)
	}
	if len(got) != len(keys) {
		t.Fatalf("got %d results for %d keys", len(got), len(keys))
	}
	for i, e := range es {
		if got[i] == nil || got[i].Key != e.Key || string(got[i].HTML) != string(e.HTML) || !got[i].StaleUntil.Equal(e.StaleUntil) {
			t.Fatalf("result %d = %+v, want %+v", i, got[i], e)
		}
	}
	if got[2000] != nil {
		t.Fatalf("absent key returned %+v", got[2000])
	}
	st := store.Stats()
	if st.Gets != 2002 || st.Hits != 2001 || st.Misses != 1 || st.Sets != 2001 || st.Errors != 0 || st.RoundTrips != 4 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestSetMultiSkipsExpiredAndOversized(t *testing.T) {
	srv := redistest.Start(t)
	store, client, _ := newStore(t, srv, generous)
	ctx := context.Background()
	es := entries(3, 10, time.Hour)
	es[0].StaleUntil = time.Now().Add(-time.Second)
	es[1].Key = strings.Repeat("k", redisstore.MaxKeyLen+1)
	if err := store.SetMulti(ctx, es); err != nil {
		t.Fatal(err)
	}
	if n := client.DBSize(ctx).Val(); n != 1 {
		t.Fatalf("DBSIZE = %d, want 1", n)
	}
	if st := store.Stats(); st.Sets != 1 || st.Skipped != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestGetMultiCorruptIsMiss(t *testing.T) {
	srv := redistest.Start(t)
	store, client, _ := newStore(t, srv, generous)
	ctx := context.Background()
	es := entries(2, 10, time.Hour)
	if err := store.SetMulti(ctx, es); err != nil {
		t.Fatal(err)
	}
	keys := storeKeys(es)
	if err := client.Set(ctx, keys[0], "not an entry", 0).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := store.GetMulti(ctx, keys)
	if err != nil {
		t.Fatalf("GetMulti: %v", err)
	}
	if got[0] != nil || got[1] == nil {
		t.Fatalf("got [%v, %v], want [nil, entry]", got[0], got[1])
	}
	if st := store.Stats(); st.Corrupt != 1 || st.Misses != 1 || st.Hits != 1 || st.Errors != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestGetMultiEmpty(t *testing.T) {
	srv := redistest.Start(t)
	store, _, hook := newStore(t, srv, generous)
	before := hook.RoundTrips()
	got, err := store.GetMulti(context.Background(), nil)
	if err != nil || len(got) != 0 || hook.RoundTrips() != before {
		t.Fatalf("GetMulti(nil) = %v, %v after %d round trips", got, err, hook.RoundTrips()-before)
	}
}

func TestBreakerOpensOnKillAndClosesAfterRestart(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Timeout: 500 * time.Millisecond, FailureThreshold: 3, OpenFor: 50 * time.Millisecond}
	store, _, hook := newStore(t, srv, opts)
	ctx := context.Background()
	es := entries(5, 10, time.Hour)
	keys := storeKeys(es)
	if err := store.SetMulti(ctx, es); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	for i := range opts.FailureThreshold {
		if _, err := store.GetMulti(ctx, keys); err == nil || errors.Is(err, redisstore.ErrOpen) {
			t.Fatalf("call %d with Redis down: err = %v, want a network error", i, err)
		}
	}
	if st := store.State(); st != "open" {
		t.Fatalf("state after %d failures = %q, want open", opts.FailureThreshold, st)
	}
	before := hook.RoundTrips()
	if _, err := store.GetMulti(ctx, keys); !errors.Is(err, redisstore.ErrOpen) {
		t.Fatalf("GetMulti while open: %v, want ErrOpen", err)
	}
	if err := store.SetMulti(ctx, es); !errors.Is(err, redisstore.ErrOpen) {
		t.Fatalf("SetMulti while open: %v, want ErrOpen", err)
	}
	if n := hook.RoundTrips() - before; n != 0 {
		t.Fatalf("open breaker let %d round trips through", n)
	}

	srv.Restart()
	// Same client, same store: once OpenFor has passed a probe goes through,
	// and the first probe that reaches the restarted Redis closes the breaker.
	wait.For(t, "breaker to close", func() bool {
		_, err := store.GetMulti(ctx, keys)
		return err == nil && store.State() == "closed"
	})
	// Persistence is off: the restarted Redis is empty, so a write is needed
	// to see a hit again.
	if err := store.SetMulti(ctx, es); err != nil {
		t.Fatal(err)
	}
	got, err := store.GetMulti(ctx, keys)
	if err != nil || got[0] == nil {
		t.Fatalf("after recovery: %v, %v", got, err)
	}
	st := store.Stats()
	if st.Errors < int64(opts.FailureThreshold) || st.Rejected < 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestHungRedisTimesOut(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Timeout: 30 * time.Millisecond, FailureThreshold: 2, OpenFor: time.Hour}
	store, _, _ := newStore(t, srv, opts)
	srv.Stop()
	defer srv.Cont()
	// A call that returns far past its deadline is the machine's fault,
	// not Redis's (Stats.Starved): it does not count towards opening the
	// breaker, and on a busy machine it takes more calls to open it.
	for i := 0; ; i++ {
		_, err := store.GetMulti(context.Background(), []string{"a"})
		if errors.Is(err, redisstore.ErrOpen) {
			if i < opts.FailureThreshold {
				t.Fatalf("open after %d calls, want at least %d", i, opts.FailureThreshold)
			}
			break
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("GetMulti on a hung Redis: %v, want a deadline error", err)
		}
		if i == 50 {
			t.Fatalf("still closed after %d timed-out calls (%d starved)", i+1, store.Stats().Starved)
		}
	}
	if st := store.Stats(); st.Errors-st.Starved != int64(opts.FailureThreshold) {
		t.Fatalf("%d failures counted against Redis (%d errors, %d starved), want %d", st.Errors-st.Starved, st.Errors, st.Starved, opts.FailureThreshold)
	}
}

func TestCallerCancellationDoesNotTrip(t *testing.T) {
	srv := redistest.Start(t)
	store, _, hook := newStore(t, srv, redisstore.Options{FailureThreshold: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := hook.RoundTrips()
	if _, err := store.GetMulti(ctx, []string{"a"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetMulti with a done context: %v", err)
	}
	if hook.RoundTrips() != before || store.State() != "closed" {
		t.Fatalf("done context reached the network (%d) or tripped the breaker (%s)",
			hook.RoundTrips()-before, store.State())
	}
}

func TestLock(t *testing.T) {
	srv := redistest.Start(t)
	store, client, _ := newStore(t, srv, generous)
	ctx := context.Background()
	key := composer.StoreKey("v1", "weather?city=paris")

	token, ok, err := store.TryLock(ctx, key, time.Minute)
	if err != nil || !ok || token == "" {
		t.Fatalf("first TryLock = %q, %v, %v", token, ok, err)
	}
	if _, ok, err := store.TryLock(ctx, key, time.Minute); err != nil || ok {
		t.Fatalf("second TryLock while held = %v, %v; want false, nil", ok, err)
	}
	if err := store.Unlock(ctx, key, "not-the-token"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := store.TryLock(ctx, key, time.Minute); ok {
		t.Fatal("Unlock with a wrong token released the lock")
	}
	if n := client.Exists(ctx, key).Val(); n != 0 {
		t.Fatal("the lock overwrote the entry's key")
	}
	if err := store.Unlock(ctx, key, token); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := store.TryLock(ctx, key, time.Minute); err != nil || !ok {
		t.Fatalf("TryLock after Unlock = %v, %v", ok, err)
	}
}

func TestLockExpires(t *testing.T) {
	srv := redistest.Start(t)
	store, _, _ := newStore(t, srv, generous)
	ctx := context.Background()
	if _, ok, err := store.TryLock(ctx, "k", 20*time.Millisecond); !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	wait.For(t, "lock to expire", func() bool {
		_, ok, err := store.TryLock(ctx, "k", time.Minute)
		return ok && err == nil
	})
}

func TestInvalidatorTwoSubscribers(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()

	var calls [2]chan string
	var gens [2]chan int64
	for i := range 2 {
		client, err := redisstore.NewClient(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Close() })
		calls[i], gens[i] = make(chan string, 16), make(chan int64, 16)
		sub := redisstore.NewInvalidator(client).Subscribe(ctx, func(f string, gen int64) {
			calls[i] <- f
			if f != redisstore.Subscribed {
				gens[i] <- gen
			}
		})
		t.Cleanup(sub.Close) // runs before the client's Close
		wait.Receive(t, calls[i], redisstore.Subscribed)
	}

	client, err := redisstore.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	inv := redisstore.NewInvalidator(client)
	if g, err := inv.Generation(ctx, "weather"); err != nil || g != 0 {
		t.Fatalf("Generation before any purge = %d, %v", g, err)
	}
	gen, err := inv.Purge(ctx, "weather")
	if err != nil || gen != 1 {
		t.Fatalf("Purge = %d, %v; want 1", gen, err)
	}
	if g, err := inv.Generation(ctx, "weather"); err != nil || g != 1 {
		t.Fatalf("Generation after purge = %d, %v", g, err)
	}
	for i := range 2 {
		wait.Receive(t, calls[i], "weather")
		if g := <-gens[i]; g != 1 {
			t.Fatalf("subscriber %d got generation %d, want 1", i, g)
		}
	}
}

func TestSubscriptionResubscribesAndStopsWithContext(t *testing.T) {
	srv := redistest.Start(t)
	client, err := redisstore.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	inv := redisstore.NewInvalidator(client)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan string, 16)
	sub := inv.Subscribe(ctx, func(f string, _ int64) { calls <- f })
	wait.Receive(t, calls, redisstore.Subscribed)

	// Lose the connection; go-redis reconnects and resubscribes by itself
	// (its health check notices within a few seconds), and says so.
	srv.Restart()
	wait.Receive(t, calls, redisstore.Subscribed)
	if _, err := inv.Purge(context.Background(), "news"); err != nil {
		t.Fatal(err)
	}
	wait.Receive(t, calls, "news")

	cancel()
	select {
	case <-sub.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("subscription did not stop when its context ended")
	}
	sub.Close() // idempotent
}

func TestSubscribeBeforeRedisIsUp(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	client, err := redisstore.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	calls := make(chan string, 16)
	sub := redisstore.NewInvalidator(client).Subscribe(context.Background(), func(f string, _ int64) { calls <- f })
	defer sub.Close()
	srv.Restart()
	wait.Receive(t, calls, redisstore.Subscribed)
}
