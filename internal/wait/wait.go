// Package wait lets a test wait for what it awaits: a condition to hold or
// a value to arrive on a channel. It never asserts how long that takes.
//
// The bound after which a wait fails is a guard against a hang, not a
// measurement: it is long (Patience) because the machines that run the
// suite are shared and noisy, and a wait that holds returns as soon as it
// holds. A test that must show something does NOT happen waits for a
// causal sign that it would have happened by then (a counter, a later
// event on the same path), never for a stretch of time.
//
// Inside a testing/synctest bubble prefer synctest.Wait, which returns
// when every goroutine in the bubble is durably blocked; wait's polling
// works there too, on the bubble's fake clock.
package wait

import (
	"testing"
	"time"
)

// Patience bounds every wait of For and Receive.
const Patience = 30 * time.Second

// For polls cond until it returns true. If cond has not held after
// Patience, the test fails, naming what it waited for. cond runs on the
// calling goroutine, so it may itself fail the test (say, when the server
// under test exits early).
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Patience, what, cond)
}

// Within is For with a bound of its own, for waits that are long by
// nature (building and starting a binary), never to assert a duration.
func Within(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for step := time.Millisecond; !cond(); step = min(2*step, 10*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("wait: %s did not happen in %v", what, bound)
		}
		time.Sleep(step)
	}
}

// Receive takes values from ch until one equals want and returns; values
// before it are dropped. The test fails if want has not come after
// Patience or if ch is closed first.
func Receive[T comparable](t testing.TB, ch <-chan T, want T) {
	t.Helper()
	timeout := time.NewTimer(Patience)
	defer timeout.Stop()
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatalf("wait: channel closed before %v", want)
			}
			if got == want {
				return
			}
		case <-timeout.C:
			t.Fatalf("wait: no %v in %v", want, Patience)
		}
	}
}
