package wait_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder stands in for the test a helper is given: it records a
// failure and ends the goroutine, as testing.T's Fatalf does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder on a goroutine of its own and returns what
// it failed with, "" when it returned.
func run(t *testing.T, f func(testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failed
}

func TestFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		go func() {
			for range 3 {
				time.Sleep(time.Second)
				n.Add(1)
			}
		}()
		if failed := run(t, func(tb testing.TB) { wait.For(tb, "three", func() bool { return n.Load() == 3 }) }); failed != "" {
			t.Errorf("a condition that comes to hold: failed with %q", failed)
		}
		failed := run(t, func(tb testing.TB) { wait.For(tb, "four", func() bool { return n.Load() == 4 }) })
		if !strings.Contains(failed, "four") {
			t.Errorf("a condition that never holds: failed with %q, want it named", failed)
		}
	})
}

func TestWithin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		failed := run(t, func(tb testing.TB) { wait.Within(tb, 3*time.Minute, "the build", func() bool { return false }) })
		if !strings.Contains(failed, "the build") || time.Since(start) < 3*time.Minute {
			t.Errorf("failed with %q after %v, want the build named after 3m", failed, time.Since(start))
		}
	})
}

func TestReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan string, 3)
		ch <- "a"
		ch <- "b"
		if failed := run(t, func(tb testing.TB) { wait.Receive(tb, ch, "b") }); failed != "" || len(ch) != 0 {
			t.Errorf("want after another: failed with %q, %d left", failed, len(ch))
		}
		if failed := run(t, func(tb testing.TB) { wait.Receive(tb, ch, "c") }); !strings.Contains(failed, "no c") {
			t.Errorf("want never sent: failed with %q", failed)
		}
		close(ch)
		if failed := run(t, func(tb testing.TB) { wait.Receive(tb, ch, "c") }); !strings.Contains(failed, "closed") {
			t.Errorf("channel closed: failed with %q", failed)
		}
	})
}
