package redistest_test

import (
	"context"
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
