package composer_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
)

// BenchmarkLookupHerd is what coalescing Store look-ups buys: per op, a
// herd of 64 requests for one page look up the same level of 2,000 keys
// at once (a cold page's thundering herd: L1 empty, the entries in Redis),
// against a real redis-server on loopback. "coalesced" is the composer's
// look-up (requests arriving while another looks a key up wait for its
// answer); "plain" is one MGET per request. It reports Redis round trips
// per herd beside the herd's time. Run with
//
//	go test -run '^$' -bench LookupHerd -benchmem ./composer/
func BenchmarkLookupHerd(b *testing.B) {
	srv := redistest.Start(b)
	const n, herd = 2000, 64
	// A connection per request of the herd, dialled without haste: the
	// plain look-ups of a herd need them all at once.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: herd, DialTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second})
	defer client.Close()
	hook := new(redisstore.CountingHook)
	client.AddHook(hook)
	store := redisstore.New(client, redisstore.Options{Timeout: 5 * time.Second})
	ctx := context.Background()
	now := time.Now()
	es := make([]*composer.Entry, n)
	keys := make([]string, n)
	for i := range es {
		es[i] = &composer.Entry{Key: "score?match=" + strconv.Itoa(i), Version: "1",
			HTML:    []byte(`<li class="score">` + strconv.Itoa(i) + strings.Repeat(" ", 200) + `</li>`),
			Created: now, FreshUntil: now.Add(time.Hour), StaleUntil: now.Add(time.Hour)}
		keys[i] = composer.StoreKey(es[i].Version, es[i].Key)
	}
	if err := store.SetMulti(ctx, es); err != nil {
		b.Fatal(err)
	}
	// Warm every connection of the pool, so that round trips count look-ups
	// and not dials.
	var warm sync.WaitGroup
	for range herd {
		warm.Go(func() {
			if err := client.Ping(ctx).Err(); err != nil {
				b.Error(err)
			}
		})
	}
	warm.Wait()
	for _, v := range []struct {
		name   string
		lookup func(*composer.Composer, context.Context, []string) ([]*composer.Entry, error)
	}{
		{"coalesced", composer.LookupCoalesced},
		{"plain", composer.LookupPlain},
	} {
		b.Run(v.name, func(b *testing.B) {
			c := composer.New(&composer.Site{}, composer.Options{Store: store})
			defer c.Close()
			b.ReportAllocs()
			trips := hook.RoundTrips()
			for b.Loop() {
				var wg sync.WaitGroup
				for range herd {
					wg.Go(func() {
						got, err := v.lookup(c, ctx, keys)
						if err != nil || got[n-1] == nil {
							b.Errorf("look-up: %v", err)
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(hook.RoundTrips()-trips)/float64(b.N), "roundtrips/op")
		})
	}
}
