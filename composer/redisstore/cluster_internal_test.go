package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/internal/redistest"
)

// TestPerKeyGets runs the Redis Cluster look-up path (one pipeline of GETs)
// against a single node: one round trip, same results as MGET.
func TestPerKeyGets(t *testing.T) {
	srv := redistest.Start(t)
	client, err := NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	hook := new(CountingHook)
	client.AddHook(hook)
	s := New(client, Options{Timeout: 5 * time.Second})
	s.perKeyGets = true
	ctx := context.Background()
	e := testEntry("weather?city=rome", "<p>Sun</p>")
	e.Created = time.Now()
	e.FreshUntil, e.StaleUntil = e.Created.Add(time.Minute), e.Created.Add(time.Hour)
	if err := s.SetMulti(ctx, []*composer.Entry{e}); err != nil {
		t.Fatal(err)
	}
	key := composer.StoreKey(e.Version, e.Key)
	if err := client.Set(ctx, "bs1:v3:bad", "junk", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	before := hook.RoundTrips()
	got, err := s.GetMulti(ctx, []string{key, "bs1:v3:absent", "bs1:v3:bad"})
	if err != nil {
		t.Fatal(err)
	}
	if n := hook.RoundTrips() - before; n != 1 {
		t.Fatalf("%d round trips, want 1", n)
	}
	if got[0] == nil || got[1] != nil || got[2] != nil {
		t.Fatalf("got %v", got)
	}
	sameEntry(t, got[0], e)
	if st := s.Stats(); st.Hits != 1 || st.Misses != 2 || st.Corrupt != 1 {
		t.Fatalf("stats = %+v", st)
	}
}
