package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// TestDebugOverlay loads pages with ?debug=1: every include carries an
// outcome, the overlay counts them all, its button toggles the outlines,
// and hovering an include explains its outcome.
func TestDebugOverlay(t *testing.T) {
	tb := newTab(t, desktop)
	for _, path := range []string{"/sport/football/scores?size=50&debug=1", "/weather/london?debug=1", "/?debug=1"} {
		tb.open(path, 200)
		if strings.HasPrefix(path, "/weather/") {
			tb.screenshot("debug-desktop")
		}
		// The overlay keeps the page valid and accessible: no wrapper
		// where a list holds only items (axe's list rule).
		tb.audit(path)
		frags := tb.count("bs-frag")
		if frags == 0 {
			t.Fatalf("%s: no bs-frag wrappers", path)
		}
		missing := eval[[]string](tb, `Array.from(document.querySelectorAll("bs-frag"))
			.filter(f => !["hit", "stale", "miss", "timeout", "error", "fallback", "placeholder"].includes(f.dataset.outcome) || !f.dataset.fragment || !f.dataset.ms)
			.map(f => f.outerHTML.slice(0, 80))`)
		for _, m := range missing {
			t.Errorf("%s: include without a fragment, outcome or time: %s", path, m)
		}
		counted := eval[int](tb, `Array.from(document.querySelectorAll(".bs-debug-outcomes b"), b => Number(b.textContent)).reduce((a, b) => a + b, 0)`)
		if counted != frags {
			t.Errorf("%s: the overlay counts %d includes, the page has %d", path, counted, frags)
		}
		// With the outlines on, every include explains its outcome.
		unexplained := eval[int](tb, `Array.from(document.querySelectorAll("bs-frag")).filter(f => getComputedStyle(f).getPropertyValue("--why").trim().length < 10).length`)
		if unexplained > 0 {
			t.Errorf("%s: %d includes without an explanation of their outcome", path, unexplained)
		}
	}

	// The front page is loaded: toggle the outlines from the overlay.
	if !eval[bool](tb, `document.body.classList.contains("bs-debug-on")`) {
		t.Error("outlines are not on when the debug page loads")
	}
	tb.do(chromedp.Click(chromedp.CSS(".bs-debug-overlay summary")), chromedp.WaitVisible(chromedp.ID("bs-debug-toggle")))
	for _, want := range []bool{false, true} {
		tb.do(chromedp.Click(chromedp.ID("bs-debug-toggle")))
		on := eval[bool](tb, `document.body.classList.contains("bs-debug-on")`)
		pressed := eval[string](tb, `document.getElementById("bs-debug-toggle").getAttribute("aria-pressed")`)
		if on != want || pressed != map[bool]string{true: "true", false: "false"}[want] {
			t.Errorf("after a click: outlines on %v (aria-pressed %s), want %v", on, pressed, want)
		}
	}
	tb.screenshot("debug-front-desktop")

	// Hover the first weather include: its tooltip names the fragment and
	// says what its outcome means; the include around it says nothing.
	tb.do(chromedp.ScrollIntoView(chromedp.CSS(`bs-frag[data-fragment="weather"]`)))
	x, y := center(tb, `bs-frag[data-fragment="weather"]`)
	tb.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y))
	tip := eval[string](tb, `getComputedStyle(document.querySelector('bs-frag[data-fragment="weather"]'), "::after").content`)
	outcome := eval[string](tb, `document.querySelector('bs-frag[data-fragment="weather"]').dataset.outcome`)
	if !strings.Contains(tip, "weather · "+outcome) || !strings.Contains(tip, " ms — ") {
		t.Errorf("hovering a weather include shows %q, want its name, outcome %q and why", tip, outcome)
	}
	why := map[string]string{"hit": "cache", "stale": "refresh", "miss": "called", "timeout": "deadline", "error": "failed", "fallback": "fallback", "placeholder": "placeholder"}[outcome]
	if !strings.Contains(tip, why) {
		t.Errorf("hovering a %s include shows %q, want it to say %q", outcome, tip, why)
	}
	tb.screenshot("debug-hover-desktop")
	// Away from the include, no tooltip.
	tb.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1))
	if tip := eval[string](tb, `getComputedStyle(document.querySelector('bs-frag[data-fragment="weather"]'), "::after").content`); tip != "none" {
		t.Errorf("tooltip still shown after the mouse left: %q", tip)
	}
	// Outlines off: hovering explains nothing.
	tb.do(chromedp.Click(chromedp.ID("bs-debug-toggle")))
	x, y = center(tb, `bs-frag[data-fragment="weather"] .bs-weather`)
	tb.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y))
	if tip := eval[string](tb, `getComputedStyle(document.querySelector('bs-frag[data-fragment="weather"]'), "::after").content`); tip != "none" {
		t.Errorf("tooltip shown with the outlines off: %q", tip)
	}
}

// center returns the viewport coordinates of the middle of sel's first
// match.
func center(tb *tab, sel string) (x, y float64) {
	tb.t.Helper()
	r := eval[[]float64](tb, `(() => { const r = document.querySelector(`+jsString(sel)+`).getBoundingClientRect(); return [r.left + r.width / 2, r.top + Math.min(r.height / 2, 20)]; })()`)
	return r[0], r[1]
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
