package web

import (
	"strconv"
	"testing"
	"time"
)

// TestBackoff: five free failures per client, then 1 s doubling to the
// ceiling; a success forgets the client; a ceiling of quiet after the
// backoff forgives, waiting each backoff out does not; the
// overall count shuts everyone out once clients together fail too often;
// the client map stays bounded.
func TestBackoff(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := loginBackoff(func() time.Time { return now })
	fail := func(c string, n int) {
		for range n {
			b.failed(c)
		}
	}
	fail("a", 5)
	if w := b.wait("a"); w != 0 {
		t.Fatalf("after 5 failures: wait %v, want 0 (free)", w)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		fail("a", 1)
		if w := b.wait("a"); w != want {
			t.Fatalf("failure %d: wait %v, want %v", 6+i, w, want)
		}
	}
	if w := b.wait("b"); w != 0 {
		t.Fatalf("another client waits %v", w)
	}
	fail("a", 40)
	if w := b.wait("a"); w != 15*time.Minute {
		t.Fatalf("many failures: wait %v, want the 15 min ceiling", w)
	}
	now = now.Add(15 * time.Minute)
	fail("a", 1)
	if w := b.wait("a"); w != 15*time.Minute {
		t.Fatalf("a failure as soon as the backoff ends: wait %v, want the ceiling again (waiting it out is not quiet)", w)
	}
	now = now.Add(30 * time.Minute)
	fail("a", 1)
	if w := b.wait("a"); w != 0 {
		t.Fatalf("a failure a quiet ceiling after the backoff ended: wait %v, want 0 (forgiven)", w)
	}
	b.succeeded("a")
	fail("a", 5)
	if w := b.wait("a"); w != 0 {
		t.Fatalf("5 failures after a success: wait %v, want 0", w)
	}

	// Overall: 50 failures spread over clients are free, the 51st shuts
	// every client out.
	now = now.Add(time.Hour)
	b = loginBackoff(func() time.Time { return now })
	for i := range 50 {
		b.failed(string(rune('A' + i)))
	}
	if w := b.wait("fresh"); w != 0 {
		t.Fatalf("after 50 failures overall: a fresh client waits %v", w)
	}
	b.failed("one more")
	if w := b.wait("fresh"); w != time.Second {
		t.Fatalf("after 51 failures overall: a fresh client waits %v, want 1s", w)
	}

	// Bounded: past maxClients, new clients share one count.
	b = loginBackoff(func() time.Time { return now })
	b.maxClients = 3
	for _, c := range []string{"p", "q", "r", "s", "t"} {
		b.failed(c)
	}
	if len(b.clients) != 4 || b.clients[overflowClient] == nil || b.clients[overflowClient].n != 2 {
		t.Fatalf("clients %v, want p, q, r and the overflow count of 2", b.clients)
	}
	now = now.Add(15 * time.Minute)
	b.failed("u")
	if b.clients["u"] == nil {
		t.Fatal("forgiven clients were not swept to make room")
	}
}

// TestBackoffBoundsGuesses is the probe's attack on a simulated clock: a
// guess every 0.48 ms (5,000 in 2.4 s) for an hour, from one address, or
// from a new address each time. The figures are RELIABILITY.md's.
func TestBackoffBoundsGuesses(t *testing.T) {
	for _, tc := range []struct {
		name            string
		newAddressEach  bool
		inFirst, inHour int
	}{
		{"one address", false, 7, 18},
		{"a new address per guess", true, 52, 115},
	} {
		const every = 480 * time.Microsecond
		start := time.Unix(1e9, 0)
		now := start
		b := loginBackoff(func() time.Time { return now })
		compared, first := 0, 0
		for i, at := 0, time.Duration(0); at < time.Hour; i, at = i+1, at+every {
			now = start.Add(at)
			client := "192.0.2.1"
			if tc.newAddressEach {
				client = strconv.Itoa(i)
			}
			if w := b.wait(client); w > 0 {
				// Refused, as is every guess until the wait ends: skip
				// to the first guess after it.
				at += (w+every-1)/every*every - every
				continue
			}
			compared++
			b.failed(client)
			if at < 2400*time.Millisecond {
				first = compared
			}
		}
		if first != tc.inFirst || compared != tc.inHour {
			t.Errorf("%s: %d tokens compared in the first 2.4 s, %d in an hour; want %d and %d", tc.name, first, compared, tc.inFirst, tc.inHour)
		}
	}
}
