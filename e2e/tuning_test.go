package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/broadsheet/broadsheet/fragments/feed"
)

// login signs in to the admin page through its form.
func login(tb *tab) {
	tb.t.Helper()
	tb.open("/account", 200)
	if eval[int](tb, `fetch("/_/admin").then(r => r.status)`) == 200 {
		tb.open("/_/admin", 200) // the browser has a session already
		return
	}
	tb.open("/_/admin", 401)
	tb.do(chromedp.SendKeys(chromedp.ID("token"), adminToken))
	tb.submit(`form[action="/_/admin/login"] button[type=submit]`)
	if got := tb.texts("h1"); len(got) != 1 || got[0] != "Live tuning" {
		tb.t.Fatalf("after signing in: h1 %q, want Live tuning", got)
	}
}

// flash returns the admin page's feedback after an action.
func flash(tb *tab) string {
	tb.t.Helper()
	got := tb.texts(".bs-flash[role=status]")
	if len(got) != 1 {
		tb.t.Fatalf("no feedback after the change (have %q; errors %q)", got, tb.texts(".bs-alert[role=alert]"))
	}
	return got[0]
}

// TestTuningTimeout is an operator's tuning session in the admin UI: the
// forecast's timeout lowered below the feed's latency makes the city page
// show the forecast's fallback; reset, the forecast is back.
func TestTuningTimeout(t *testing.T) {
	tb := newTab(t, desktop)
	const latency = 30 * time.Millisecond
	feed.Configure(feed.Options{Now: clock.Now, Latency: latency})
	t.Cleanup(func() { feed.Configure(fastFeed()) })
	t.Cleanup(func() { _, _ = tuner.Reset(context.Background(), "e2e", "forecast") })

	tb.open("/weather/london", 200)
	if tb.count(".bs-forecast__day") != 3 {
		t.Fatalf("the forecast is not on the city page before tuning")
	}

	login(tb)
	// The forecast is cached: the page says a change reaches cached
	// entries once they are replaced, and "apply to cached entries"
	// purges them in the same step.
	if note := tb.texts(`#f-forecast .bs-cache-note`); len(note) != 1 || !strings.Contains(note[0], "keep their times") {
		t.Errorf("the forecast's section does not say what happens to its cached entries: %q", note)
	}
	tb.do(
		chromedp.Clear(chromedp.ID("forecast-timeout")),
		chromedp.SendKeys(chromedp.ID("forecast-timeout"), "5ms"),
		chromedp.Click(chromedp.ID("forecast-purge")),
	)
	tb.submit(`#f-forecast form.bs-form--grid button[type=submit]`)
	if got := flash(tb); !strings.Contains(got, "forecast") || !strings.Contains(got, "timeout 5s → 5ms") || !strings.Contains(got, "cache purged") {
		t.Errorf("feedback after the change: %q, want it to name forecast, timeout 5s → 5ms and the purge", got)
	}
	// The feedback is repeated in the changed fragment's section, where
	// the page lands after the change.
	if got := tb.texts(`#f-forecast .bs-admin__applied`); len(got) != 1 || !strings.Contains(got[0], "timeout 5s → 5ms") {
		t.Errorf("feedback in the forecast's section: %q", got)
	}
	if h := eval[string](tb, `location.hash`); h != "#f-forecast" {
		t.Errorf("after the change the page is at %q, want #f-forecast", h)
	}
	if v := eval[string](tb, `document.getElementById("forecast-timeout").value`); v != "5ms" {
		t.Errorf("the form shows timeout %q after the change, want 5ms", v)
	}
	if got := tb.texts(`#f-forecast .bs-origin--live`); len(got) == 0 {
		t.Errorf("the changed timeout is not marked live")
	}
	tb.screenshot("admin-desktop")

	tb.open("/weather/london?debug=1", 200)
	if got := tb.texts(`bs-frag[data-fragment="forecast"] .bs-fallback`); len(got) != 1 || got[0] != "The forecast is taking a moment…" {
		t.Errorf("with a 5ms timeout the forecast shows %q, want its fallback", got)
	}
	// The composer's deadline or the fragment's own context error, whichever
	// is seen first: either way the fragment failed and its fallback shows.
	if o := eval[string](tb, `document.querySelector('bs-frag[data-fragment="forecast"]').dataset.outcome`); o != "timeout" && o != "error" {
		t.Errorf("forecast outcome %q, want timeout or error", o)
	}
	if tb.count(".bs-forecast__day") != 0 || tb.count(".bs-now .bs-weather") != 1 {
		t.Errorf("the rest of the page should be there and the forecast not")
	}
	tb.screenshot("tuned-weather-desktop")

	// The explorer shows the timeouts against the new timeout.
	tb.open("/_/fragments", 200)
	if got := tb.texts(`#f-forecast .bs-bar__label`); len(got) != 1 || !strings.Contains(got[0], "of 5ms") {
		t.Errorf("explorer latency for forecast: %q, want it against 5ms", got)
	}
	if tb.count(`#f-forecast .bs-bar--over`) != 1 {
		t.Errorf("explorer: the forecast's bar is not marked over its timeout")
	}
	if tb.count(`#f-forecast .bs-obar__part.bs-outcome--timeout, #f-forecast .bs-obar__part.bs-outcome--error`) == 0 {
		t.Errorf("explorer: the forecast's outcomes show no failure")
	}

	tb.open("/_/admin", 200)
	tb.submit(`#f-forecast form[action$="/reset"] button[type=submit]`)
	if got := flash(tb); !strings.Contains(got, "forecast") {
		t.Errorf("feedback after the reset: %q", got)
	}
	if v := eval[string](tb, `document.getElementById("forecast-timeout").value`); v != "5s" {
		t.Errorf("the form shows timeout %q after the reset, want 5s", v)
	}
	tb.open("/weather/london", 200)
	if tb.count(".bs-forecast__day") != 3 || tb.count(".bs-fallback") != 0 {
		t.Errorf("after the reset the forecast is not back: %q", tb.texts(".bs-fallback"))
	}
}

// TestKillSwitch turns a fragment off from the admin UI: every page that
// places it shows its fallback, no error, and the page is whole; turned on
// again, it is back.
func TestKillSwitch(t *testing.T) {
	tb := newTab(t, desktop)
	t.Cleanup(func() { _, _ = tuner.Reset(context.Background(), "e2e", "weather") })
	login(tb)
	tb.do(chromedp.Click(chromedp.CSS(`#f-weather input[type=checkbox][name=disabled]`)))
	tb.submit(`#f-weather form.bs-form--grid button[type=submit]`)
	if got := flash(tb); !strings.Contains(got, "disabled false → true") {
		t.Errorf("feedback after the kill switch: %q", got)
	}
	if tb.count(`#f-weather .bs-badge--off`) != 1 {
		t.Errorf("the admin page does not mark weather disabled")
	}

	tb.open("/?debug=1", 200)
	fallbacks := tb.texts(`bs-frag[data-fragment="weather"] .bs-fallback`)
	if len(fallbacks) != 6 {
		t.Errorf("front page: %d weather fallbacks, want 6", len(fallbacks))
	}
	for _, f := range fallbacks {
		if f != "Weather is taking a moment…" {
			t.Errorf("weather fallback %q", f)
		}
	}
	outcomes := eval[[]string](tb, `Array.from(document.querySelectorAll('bs-frag[data-fragment="weather"]'), f => f.dataset.outcome)`)
	for _, o := range outcomes {
		if o != "fallback" {
			t.Errorf("weather outcome %q, want fallback", o)
		}
	}
	body := strings.ToLower(eval[string](tb, `document.querySelector("main").innerText + document.querySelector(".bs-side").innerText`))
	for _, bad := range []string{"error", "unavailable", "panic", "context deadline"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page says %q", bad)
		}
	}
	if tb.count(".bs-card") < 18 || tb.count(".bs-mostread__item") < 5 {
		t.Errorf("the rest of the front page is missing")
	}

	tb.open("/_/admin", 200)
	tb.do(chromedp.Click(chromedp.CSS(`#f-weather input[type=checkbox][name=disabled]`)))
	tb.submit(`#f-weather form.bs-form--grid button[type=submit]`)
	tb.open("/", 200)
	if n := tb.count(".bs-weather"); n != 6 {
		t.Errorf("after turning weather on again: %d weather cards, want 6", n)
	}
}
