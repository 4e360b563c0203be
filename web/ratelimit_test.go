package web

import (
	"testing"
	"time"
)

// TestRates: a client gets its burst, then its rate; others are not
// held up by it; the overall bucket holds every client back and a client
// refused overall keeps its own token; the table stays bounded.
func TestRates(t *testing.T) {
	now := time.Unix(1e9, 0)
	clock := func() time.Time { return now }
	r := newRates(2, 3, 0, 0, clock)
	for i := range 3 {
		if ok, _ := r.allow("a"); !ok {
			t.Fatalf("burst request %d refused", i+1)
		}
	}
	ok, retry := r.allow("a")
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("past the burst: ok %v, retry %v; want refused, 500ms", ok, retry)
	}
	if ok, _ := r.allow("b"); !ok {
		t.Fatal("another client refused")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := r.allow("a"); !ok {
		t.Fatal("refused after waiting as told")
	}

	r = newRates(10, 2, 1, 2, clock)
	r.allow("a")
	r.allow("b")
	ok, retry = r.allow("c")
	if ok || retry != time.Second {
		t.Fatalf("overall bucket empty: ok %v, retry %v; want refused, 1s", ok, retry)
	}
	now = now.Add(time.Second)
	if ok, _ := r.allow("c"); !ok {
		t.Fatal("refused once the overall bucket had a token")
	}
	// c's refusal did not cost it a token of its own: it had 2, used 1.
	r.all = nil
	if ok, _ := r.allow("c"); !ok {
		t.Fatal("a refusal overall took the client's own token")
	}

	r = newRates(1, 1, 0, 0, clock)
	r.maxClients = 2
	r.allow("p")
	r.allow("q")
	r.allow("s")
	if len(r.clients) != 3 || r.clients[overflowRates] == nil {
		t.Fatalf("clients %v: want p, q and the shared overflow bucket", r.clients)
	}
	if ok, _ := r.allow("t"); ok {
		t.Fatal("new clients past the bound share one bucket: the second should wait")
	}
	now = now.Add(time.Second)
	r.allow("u")
	if r.clients["u"] == nil {
		t.Fatal("clients whose buckets refilled were not swept to make room")
	}
}
