package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/web/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestStores: both stores keep a key until its TTL or its deletion, and
// give nothing for an unknown key.
func TestStores(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t)
	client := rs.Client(t)
	for name, s := range map[string]session.Store{
		"memory": session.NewMemory(10, nil),
		"redis":  session.NewRedis(client),
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok, err := s.Get(ctx, "nope"); ok || err != nil {
				t.Fatalf("unknown key: ok %v, err %v", ok, err)
			}
			if err := s.Put(ctx, "a", "1", time.Hour); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Get(ctx, "a"); v != "1" || !ok || err != nil {
				t.Fatalf("Get(a) = %q, %v, %v", v, ok, err)
			}
			if err := s.Delete(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Get(ctx, "a"); ok {
				t.Fatal("a deleted key is still there")
			}
			if err := s.Delete(ctx, "a"); err != nil {
				t.Fatalf("deleting twice: %v", err)
			}
		})
	}
	// Redis expires its keys itself.
	s := session.NewRedis(client)
	if err := s.Put(ctx, "short", "1", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ttl := client.PTTL(ctx, session.KeyPrefix+"short").Val(); ttl <= 0 || ttl > 50*time.Millisecond {
		t.Fatalf("Redis TTL %v, want (0, 50ms]", ttl)
	}
}

// TestMemoryExpiresAndStaysBounded: an entry is gone at its TTL; a full
// store sweeps expired entries to make room, and refuses rather than drop
// a live one.
func TestMemoryExpiresAndStaysBounded(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1e9, 0)}
	s := session.NewMemory(2, c.now)
	s.Put(ctx, "a", "1", time.Minute)
	s.Put(ctx, "b", "1", time.Hour)
	if err := s.Put(ctx, "c", "1", time.Hour); !errors.Is(err, session.ErrFull) {
		t.Fatalf("third live entry: %v, want ErrFull", err)
	}
	if err := s.Put(ctx, "b", "2", time.Hour); err != nil {
		t.Fatalf("replacing a held key: %v", err)
	}
	c.t = c.t.Add(time.Minute)
	if _, ok, _ := s.Get(ctx, "a"); ok {
		t.Fatal("a is past its TTL and still there")
	}
	if err := s.Put(ctx, "c", "1", time.Hour); err != nil {
		t.Fatalf("after a expired: %v", err)
	}
	if s.Len() != 2 {
		t.Fatalf("%d entries, want 2", s.Len())
	}
	if v, ok, _ := s.Get(ctx, "b"); !ok || v != "2" {
		t.Fatalf("b = %q, %v: a live entry was dropped", v, ok)
	}
}
