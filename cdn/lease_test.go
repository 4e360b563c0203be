package cdn

import (
	"net/http/httptest"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
)

// TestOnePurgePerChange: two instances' Purgers sharing a real Redis both
// hear every change; one purge request per change reaches the CDN. When
// the lease's holder stops, the other takes over.
func TestOnePurgePerChange(t *testing.T) {
	rs := redistest.Start(t)
	stub := &cdnStub{}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	a, err := New(srv.URL, Options{Redis: rs.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(srv.URL, Options{Redis: rs.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	wait.For(t, "one Purger to hold the lease and the other to know it", func() bool {
		sa, sb := a.lease.state.Load(), b.lease.state.Load()
		return sa == leaseMine && sb == leaseOthers || sa == leaseOthers && sb == leaseMine
	})
	holder, other := a, b
	if b.lease.state.Load() == leaseMine {
		holder, other = b, a
	}
	changes := []string{"score?match=m1", "score?match=m2", "score?match=m3"}
	for i, key := range changes {
		other.Purge(key, "score?*")
		holder.Purge(key, "score?*")
		flush(t, a)
		flush(t, b)
		if got := stub.got(); len(got) != i+1 || got[i][0] != key {
			t.Fatalf("after change %d: purges %q, want one per change", i+1, got)
		}
	}
	if n := other.Stats().Skipped.Load(); n != int64(2*len(changes)) {
		t.Errorf("the other Purger skipped %d keys, want %d", n, 2*len(changes))
	}

	holder.Close() // gives the lease up
	wait.For(t, "the other Purger to take the lease over", func() bool { return other.lease.state.Load() == leaseMine })
	other.Purge("score?match=m4")
	flush(t, other)
	if got := stub.got(); len(got) != len(changes)+1 || got[len(changes)][0] != "score?match=m4" {
		t.Fatalf("after the holder stopped: purges %q", got)
	}
}

// TestPurgesWithoutRedisAnswering: a Purger whose Redis does not answer
// sends every purge (a duplicate rather than a missing one).
func TestPurgesWithoutRedisAnswering(t *testing.T) {
	rs := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1})
	defer client.Close()
	rs.Kill()
	stub := &cdnStub{}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	p, err := New(srv.URL, Options{Redis: client})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Purge("a")
	flush(t, p)
	if got := stub.got(); len(got) != 1 {
		t.Fatalf("purges %q, want [[a]]", got)
	}
}
