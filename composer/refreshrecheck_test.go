package composer

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/a-h/templ"
)

// TestLateRefreshOfRefreshedEntry: a request that read a stale entry just
// before its refresh completed (and left the group) asks for a refresh of
// that entry after the fact; the newer entry is in L1 by then, so no second
// refresh is made. Under an expiry herd on two cores this was the source of
// the extra refresh calls (115 for 103 keys).
func TestLateRefreshOfRefreshedEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		f := static("f", "")
		f.Defaults = Settings{Timeout: 50 * time.Millisecond, Fresh: time.Second, Stale: time.Hour}
		f.Render = func(context.Context, Params) (templ.Component, error) {
			calls.Add(1)
			return text("v"), nil
		}
		c := newTestComposer(t, testSite([]*Spec{f}, time.Second, "f"), Options{})
		serve(c, "")
		synctest.Wait()
		key := Key("f", Params{})
		old, _ := c.inL1(key, c.version(c.Site().Fragments["f"]))
		if old == nil {
			t.Fatal("no entry in L1 after the first page")
		}
		time.Sleep(2 * time.Second) // stale
		serve(c, "")                // serves it stale, refreshes it
		time.Sleep(time.Second)     // the refresh is done and in L1
		if n := calls.Load(); n != 2 {
			t.Fatalf("%d calls, want 2 (first, refresh)", n)
		}
		site := c.Site()
		c.refresh(site, site.Fragments["f"], Params{}, old) // the late request
		time.Sleep(time.Second)
		if n := calls.Load(); n != 2 {
			t.Errorf("%d calls after a late refresh of a refreshed entry, want still 2", n)
		}
	})
}
