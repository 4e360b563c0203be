package e2e

import (
	"context"
	"slices"
	"testing"
)

// TestUnbalancedFallbackInABrowser sets weather's fallback live to HTML
// that leaves a table open and turns weather off: the front page places
// that fallback six times, and in Chromium the side column and the footer
// stay where the layout put them, not in the fallback's table cell.
func TestUnbalancedFallbackInABrowser(t *testing.T) {
	tb := newTab(t, desktop)
	ctx := context.Background()
	t.Cleanup(func() { _, _ = tuner.Reset(ctx, "e2e", "weather") })
	want := tuner.Base().Fragments["weather"].Settings
	want.Fallback = `<div class="bs-broken"><table><tr><td>open`
	want.Disabled = true
	if _, err := tuner.Update(ctx, "e2e", "weather", want); err != nil {
		t.Fatal(err)
	}
	tb.open("/", 200)
	got := eval[[]string](tb, `[
		String(document.querySelectorAll(".bs-broken td").length),
		document.querySelector("footer.bs-footer").parentElement.tagName,
		document.querySelector("aside.bs-side").parentElement.className,
		String(document.querySelectorAll("td footer, td aside, td main").length),
	]`)
	if want := []string{"6", "BODY", "bs-wrap bs-columns", "0"}; !slices.Equal(got, want) {
		t.Fatalf("broken fallbacks, footer's parent, side column's parent, page parts in a cell: %q, want %q", got, want)
	}
}
