package launch

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

type ctxKey struct{}

var errGone = errors.New("nobody waits")

func TestContextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		expired := 0
		ctx := NewContext(context.WithValue(context.Background(), ctxKey{}, "v"), time.Hour, func() { expired++ })
		defer ctx.Stop()
		// Waiting for slots: the deadline is the end of the wait.
		if d, ok := ctx.Deadline(); !ok || !d.Equal(time.Now().Add(time.Hour)) {
			t.Errorf("waiting: deadline %v %v", d, ok)
		}
		time.Sleep(time.Minute) // a wait in the composer's queues
		// The call begins: its own clock starts now.
		if !ctx.Begin(time.Second, nil) {
			t.Fatal("begin refused before the wait ended")
		}
		child, cancel := context.WithTimeout(ctx, time.Hour) // derived: ends with ctx
		defer cancel()
		if d, ok := ctx.Deadline(); !ok || !d.Equal(time.Now().Add(time.Second)) {
			t.Errorf("deadline %v %v", d, ok)
		}
		if ctx.Value(ctxKey{}) != "v" || child.Value(ctxKey{}) != "v" {
			t.Errorf("values not carried")
		}
		start := time.Now()
		<-child.Done()
		synctest.Wait()
		if time.Since(start) != time.Second || !errors.Is(ctx.Err(), context.DeadlineExceeded) ||
			!errors.Is(child.Err(), context.DeadlineExceeded) || expired != 1 {
			t.Errorf("after %v: err %v, child %v, expired %d", time.Since(start), ctx.Err(), child.Err(), expired)
		}
	})
}

// TestContextWaitEnds: a call that cannot begin before its wait ends is
// not made (begin refuses) and its flight does not expire: nothing was
// called.
func TestContextWaitEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		expired := 0
		ctx := NewContext(context.Background(), time.Second, func() { expired++ })
		defer ctx.Stop()
		<-ctx.Done()
		synctest.Wait()
		if ctx.Begin(time.Second, nil) || !errors.Is(ctx.Err(), context.DeadlineExceeded) || expired != 0 {
			t.Errorf("after the wait: begin allowed, or err %v, expired %d", ctx.Err(), expired)
		}
	})
}

func TestContextAbandonAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		expired := 0
		ctx := NewContext(context.Background(), time.Minute, func() { expired++ })
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		ran := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { close(ran) })
		ctx.Abandon(errGone)
		<-child.Done()
		<-ran
		if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(ctx.Cause(), errGone) || stop() {
			t.Errorf("abandoned: err %v, cause %v", ctx.Err(), ctx.Cause())
		}
		ctx.Stop()
		time.Sleep(2 * time.Minute)
		if expired != 0 {
			t.Errorf("an abandoned call's flight expired %d times", expired)
		}

		// Stopped before its deadline: done, expire never runs; a stopped
		// AfterFunc never runs.
		ctx2 := NewContext(context.Background(), time.Minute, func() { expired++ })
		never := context.AfterFunc(ctx2, func() { t.Error("stopped AfterFunc ran") })
		if !never() {
			t.Error("AfterFunc stop reported false before the context ended")
		}
		ctx2.Stop()
		<-ctx2.Done()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if expired != 0 || ctx2.Cause() == nil {
			t.Errorf("stopped: expired %d, cause %v", expired, ctx2.Cause())
		}
	})
}

// TestContextGrace: at its deadline a call is granted grace by how late
// goroutines ran lately, again at the end of that grace while they still
// do, up to its timeout in all; a call that returns within it is not
// expired, one that does not is expired at its end.
func TestContextGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			late, want time.Duration // want: when the context ends
		}{
			{"none", 0, time.Second},
			{"under MinGrace", MinGrace - 1, time.Second},
			{"late once", 300 * time.Millisecond, 1300 * time.Millisecond},
			{"late, then late again", 300 * time.Millisecond, 1600 * time.Millisecond},
			{"at most the timeout", time.Hour, 2 * time.Second},
		} {
			expired, reads := 0, 0
			late := func() time.Duration {
				reads++
				if reads > 1 && tc.name == "late once" || reads > 2 && tc.name == "late, then late again" {
					return 0
				}
				return tc.late
			}
			ctx := NewContext(context.Background(), time.Minute, func() { expired++ })
			start := time.Now()
			if !ctx.Begin(time.Second, late) {
				t.Fatal("begin refused")
			}
			<-ctx.Done()
			synctest.Wait()
			if got := time.Since(start); got != tc.want || expired != 1 {
				t.Errorf("%s: ended after %v, expired %d; want %v and 1", tc.name, got, expired, tc.want)
			}
			if d, _ := ctx.Deadline(); !d.Equal(start.Add(tc.want)) {
				t.Errorf("%s: deadline %v after the start, want %v", tc.name, d.Sub(start), tc.want)
			}
			ctx.Stop()
		}

		// Returned during its grace: stopped, never expired.
		expired := 0
		ctx := NewContext(context.Background(), time.Minute, func() { expired++ })
		ctx.Begin(time.Second, func() time.Duration { return 500 * time.Millisecond })
		time.Sleep(1200 * time.Millisecond)
		if ctx.Err() != nil {
			t.Fatalf("ended within its grace: %v", ctx.Err())
		}
		ctx.Stop()
		time.Sleep(time.Minute)
		synctest.Wait()
		if expired != 0 || !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("returned within its grace: expired %d, err %v", expired, ctx.Err())
		}
	})
}

// TestContextPause: a call's clock stops while it is paused, from Pause
// to the last overlapping resume, and its deadline moves on by that time;
// before Begin, once ended, pausing does nothing; a call stopped while
// paused ends. A context derived from the call's (with values, without
// cancellation) leads back to it.
func TestContextPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		expired := 0
		ctx := NewContext(context.Background(), time.Minute, func() { expired++ })
		defer ctx.Stop()
		ctx.Pause()() // waiting for slots: not the call's clock
		if d, _ := ctx.Deadline(); !d.Equal(time.Now().Add(time.Minute)) {
			t.Errorf("paused before Begin: deadline %v from now", time.Until(d))
		}
		start := time.Now()
		ctx.Begin(time.Second, nil)
		time.Sleep(200 * time.Millisecond)
		derived := context.WithoutCancel(context.WithValue(ctx, ctxKey{}, "v"))
		if FromContext(derived) != ctx || FromContext(context.Background()) != nil {
			t.Fatal("FromContext does not lead back to the call's context")
		}
		resume := FromContext(derived).Pause()
		time.Sleep(500 * time.Millisecond)
		inner := ctx.Pause() // overlapping: the clock stays stopped
		time.Sleep(time.Second)
		resume()
		resume() // a second call changes nothing
		time.Sleep(300 * time.Millisecond)
		inner() // paused from +200 ms to +2 s: 1.8 s
		<-ctx.Done()
		synctest.Wait()
		if got := time.Since(start); got != 2800*time.Millisecond || expired != 1 {
			t.Errorf("ended after %v, expired %d; want 2.8s and 1", got, expired)
		}
		ctx.Pause()()
		if d, _ := ctx.Deadline(); !d.Equal(start.Add(2800 * time.Millisecond)) {
			t.Errorf("paused once ended: deadline %v after the start", d.Sub(start))
		}

		// Returned while paused: the context ends, and never expires.
		expired = 0
		ctx = NewContext(context.Background(), time.Minute, func() { expired++ })
		ctx.Begin(time.Second, nil)
		resume = ctx.Pause()
		ctx.Stop()
		resume()
		time.Sleep(time.Minute)
		synctest.Wait()
		if !errors.Is(ctx.Err(), context.Canceled) || expired != 0 {
			t.Errorf("stopped while paused: err %v, expired %d", ctx.Err(), expired)
		}
	})
}
