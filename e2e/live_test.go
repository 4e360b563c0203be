package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/broadsheet/broadsheet/internal/wait"
)

// TestLiveDataRefreshes shows live data changing on reload once its cache
// entries expire: scores as the match clock runs, the weather as the minute
// turns. The composer's entries follow the test's clock; the browser's own
// cache follows the real one and keeps a page for its max-age, which no
// purge reaches (the CDN's does: cdn's TestVarnishPurgedByEvent), so it is
// off in this tab.
func TestLiveDataRefreshes(t *testing.T) {
	tb := newTab(t, desktop)
	if _, err := chromedp.Call(tb.ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fragment, path, sel string
	}{
		{"score", "/sport/football/scores?size=40", ".bs-score"},
		{"weather", "/weather/london", ".bs-now .bs-weather__updated, .bs-now .bs-weather__temp"},
	} {
		t.Run(c.fragment, func(t *testing.T) {
			tb.t = t
			tb.open(c.path, 200)
			before := tb.texts(c.sel)
			if len(before) == 0 {
				t.Fatalf("%s: nothing matches %s", c.path, c.sel)
			}
			// The cache keeps the page as it is while its entries are fresh.
			clock.Advance(12 * time.Minute)
			tb.open(c.path, 200)
			if got := tb.texts(c.sel); !slices.Equal(got, before) {
				t.Errorf("%s changed while its entries were fresh", c.fragment)
			}
			// Entries that expire almost at once. The entries cached so far
			// keep the lifetime they were written with: purge them once.
			shortTTL(t, c.fragment)
			if _, err := comp.PurgeFragment(context.Background(), c.fragment); err != nil {
				t.Fatal(err)
			}
			tb.open(c.path, 200)
			now := tb.texts(c.sel)
			if slices.Equal(now, before) {
				t.Fatalf("%s: still %q after a purge", c.fragment, strings.Join(first(before), " | "))
			}
			// From now on, time alone refreshes the page on reload.
			clock.Advance(12 * time.Minute)
			waitChanged(t, tb, c.path, c.sel, now)
		})
	}
}

// waitChanged reloads path until sel's texts differ from before (the
// entries expire within milliseconds; the wait bounds a slow machine).
func waitChanged(t *testing.T, tb *tab, path, sel string, before []string) {
	t.Helper()
	wait.For(t, fmt.Sprintf("%s to change from %q once its entries expired", path, strings.Join(first(before), " | ")), func() bool {
		tb.open(path, 200)
		after := tb.texts(sel)
		if slices.Equal(after, before) {
			return false
		}
		t.Logf("%q → %q", first(before), first(after))
		return true
	})
}

// shortTTL makes fragment's entries fresh for a millisecond and stale for
// another, until the test ends.
func shortTTL(t *testing.T, fragment string) {
	t.Helper()
	ctx := context.Background()
	f := tuner.Base().Fragments[fragment]
	want := f.Settings
	want.Fresh, want.Stale = time.Millisecond, time.Millisecond
	if _, err := tuner.Update(ctx, "e2e", fragment, want); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = tuner.Reset(ctx, "e2e", fragment)
		_, _ = comp.PurgeFragment(ctx, fragment)
	})
}

func first(s []string) []string { return s[:min(len(s), 3)] }
