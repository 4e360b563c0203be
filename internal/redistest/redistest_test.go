package redistest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartKillRestart(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := c.Ping(short).Err(); err == nil {
		t.Fatal("ping after Kill succeeded")
	}
	srv.Restart()
	// The client reconnects by itself; persistence is off, so "k" is gone.
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after restart: exists = %d, %v; want 0, nil", n, err)
	}
}

func TestStopCont(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping to a stopped server succeeded")
	}
	srv.Cont()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping after Cont: %v", err)
	}
}

func TestURL(t *testing.T) {
	srv := redistest.Start(t)
	if got, want := srv.URL(), "redis://"+srv.Addr()+"/0"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
}

func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	if got := len(c.Primaries()); got != 3 {
		t.Fatalf("%d primaries, want 3", got)
	}
	cl := c.Client(t)
	ctx := context.Background()
	// Keys spread over the three primaries.
	seen := map[string]bool{}
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		if err := cl.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		seen[c.PrimaryOf(k).Addr()] = true
	}
	if len(seen) != 3 {
		t.Fatalf("30 keys on %d primaries, want 3", len(seen))
	}
}

func TestClusterFailover(t *testing.T) {
	c := redistest.StartClusterReplicas(t, 3, 1)
	cl := c.Client(t)
	ctx := context.Background()
	if err := cl.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := c.PrimaryOf("k")
	old.Kill()
	c.WaitHealthy()
	if now := c.PrimaryOf("k"); now == old {
		t.Fatal("no failover")
	}
	old.Restart()
	c.WaitHealthy() // it rejoins as a replica
	if got := len(c.Primaries()); got != 3 {
		t.Fatalf("%d primaries after the old one rejoined, want 3", got)
	}
}
