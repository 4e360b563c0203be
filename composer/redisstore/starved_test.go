package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
)

// lateHook makes every command time out: it waits for the call's deadline
// and then, like a goroutine the scheduler runs late, for late more
// before returning the deadline's error.
type lateHook struct{ late time.Duration }

func (h lateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h lateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		<-ctx.Done()
		time.Sleep(h.late)
		return ctx.Err()
	}
}
func (h lateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestBreakerIgnoresStarvedCalls: calls that time out and return at their
// deadline open the breaker, as a hung Redis should; calls that return far
// past it — this process was too busy to run them, as under a herd of a
// thousand pages on two cores — are errors (misses) but do not: they say
// nothing about Redis, and an open breaker would drop every instance's
// locks just when a herd needs them. No clock is asserted on: the late
// calls return a whole Store timeout past their deadline, the prompt ones at
// it. The timeout is long (the starved margin a fifth of it, 100 ms) so
// that a busy test machine's own lateness does not starve the prompt ones.
func TestBreakerIgnoresStarvedCalls(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, tc := range []struct {
		name     string
		late     time.Duration
		wantOpen bool
	}{
		{"prompt timeouts", 0, true},
		{"starved timeouts", timeout, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			opts := redisstore.Options{Timeout: timeout, FailureThreshold: 2, OpenFor: time.Hour}
			store, client, _ := newStore(t, srv, opts)
			client.AddHook(lateHook{late: tc.late})
			ctx := context.Background()
			for range opts.FailureThreshold + 1 {
				_, err := store.GetMulti(ctx, []string{"k"})
				if err == nil {
					t.Fatal("GetMulti: no error, want a timeout")
				}
			}
			st := store.Stats()
			if open := store.State() == "open"; open != tc.wantOpen {
				t.Errorf("breaker %s after %d timeouts (%d starved), want open %v", store.State(), st.Errors, st.Starved, tc.wantOpen)
			}
			if wantStarved := !tc.wantOpen; (st.Starved > 0) != wantStarved {
				t.Errorf("Stats.Starved = %d, want some: %v", st.Starved, wantStarved)
			}
		})
	}
}
