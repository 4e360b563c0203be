package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// page is one page of the site and what must be on it.
type page struct {
	name, path string
	status     int64
	// want maps a selector to the least number of elements it must match.
	want map[string]int
	// shot names the page's screenshots ("" takes none).
	shot string
}

var pages = []page{
	{name: "front", path: "/", shot: "front", want: map[string]int{
		".bs-leadstory": 1, ".bs-card": 18, ".bs-weather": 6, ".bs-quote": 3, ".bs-score": 6, ".bs-mostread__item": 5, ".bs-footer": 1,
	}},
	{name: "scores", path: "/sport/football/scores?size=200", shot: "scores", want: map[string]int{
		".bs-board": 1, ".bs-score": 200, ".bs-score__result": 200,
	}},
	{name: "city", path: "/weather/london", shot: "weather", want: map[string]int{
		".bs-now .bs-weather": 1, ".bs-weather__updated time": 1, ".bs-forecast__day": 3, ".bs-cities a": 6,
	}},
	{name: "news", path: "/news", want: map[string]int{".bs-leadstory": 1, ".bs-card": 8}},
	{name: "section", path: "/section/world", want: map[string]int{".bs-leadstory": 1, ".bs-toplist__item": 3}},
	{name: "story", path: "/story/s003", want: map[string]int{".bs-article__title": 1, ".bs-article__body p": 2}},
	{name: "pages", path: "/_/pages", want: map[string]int{".bs-table tbody tr": 6}},
	{name: "fragments", path: "/_/fragments", shot: "fragments", want: map[string]int{
		".bs-table--fragments tbody tr": 10, ".bs-table--fragments .bs-bar": 3, ".bs-table--fragments .bs-obar": 3,
	}},
	{name: "fragment", path: "/_/fragments/score", shot: "fragment-score", want: map[string]int{
		".bs-table--settings tbody tr": 7, ".bs-figures": 1, ".bs-bar": 1, ".bs-obar": 1, "form.bs-form input": 1,
	}},
	{name: "render", path: "/_/fragments/score/render?match=m0001", want: map[string]int{".bs-render__source": 1, "iframe.bs-render__preview": 1}},
	{name: "account", path: "/account", want: map[string]int{"form.bs-form input#bs-name": 1}},
	{name: "not-found", path: "/weather/atlantis", status: 404, shot: "not-found", want: map[string]int{".bs-error__code": 1}},
	{name: "admin-login", path: "/_/admin", status: 401, want: map[string]int{"input#token[type=password]": 1}},
}

// TestPages loads every page at phone and desktop widths: it loads without
// console errors or failed requests, has its key elements, passes the
// accessibility audit, and is saved as a screenshot.
func TestPages(t *testing.T) {
	// The scores page and the front page first, so that the explorer has
	// figures to show.
	for _, vp := range []viewport{desktop, phone} {
		t.Run(vp.name, func(t *testing.T) {
			tb := newTab(t, vp)
			for _, p := range pages {
				status := p.status
				if status == 0 {
					status = 200
				}
				tb.open(p.path, status)
				for sel, n := range p.want {
					if got := tb.count(sel); got < n {
						t.Errorf("%s: %d × %s, want at least %d", p.name, got, sel, n)
					}
				}
				tb.audit(p.name + " (" + vp.name + ")")
				if p.shot != "" {
					tb.screenshot(p.shot + "-" + vp.name)
				}
			}
		})
	}
}

// TestKeyboardFocus tabs through the start of pages: the skip link comes
// first and every focused element shows a visible outline.
func TestKeyboardFocus(t *testing.T) {
	tb := newTab(t, desktop)
	for _, path := range []string{"/", "/sport/football/scores?size=20", "/weather/london", "/_/fragments", "/account"} {
		tb.open(path, 200)
		for i := 0; i < 4; i++ {
			tb.do(chromedp.KeyEvent(kb.Tab))
			got := eval[string](tb, focusJS)
			if !strings.HasPrefix(got, "visible ") {
				t.Errorf("%s: tab %d: focus not visible: %q", path, i+1, got)
			}
			if i == 0 && !strings.Contains(got, "bs-skip") {
				t.Errorf("%s: the first tab stop is %q, want the skip link", path, got)
			}
		}
		// The skip link takes the reader to the main content.
		tb.do(chromedp.KeyEvent(kb.Escape))
		tb.open(path, 200)
		tb.do(chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter))
		if got := eval[string](tb, `location.hash + " " + (document.activeElement && document.activeElement.id)`); got != "#main main" {
			t.Errorf("%s: after the skip link: %q, want #main focused", path, got)
		}
	}
}

// TestLayout checks the layouts readers see: the sidebar beside the main
// column on a desktop and below it on a phone, cards in several columns on
// a desktop and one on a phone.
func TestLayout(t *testing.T) {
	for _, c := range []struct {
		vp      viewport
		columns int
		beside  bool
	}{{desktop, 3, true}, {phone, 1, false}} {
		t.Run(c.vp.name, func(t *testing.T) {
			tb := newTab(t, c.vp)
			tb.open("/", 200)
			cols := eval[int](tb, `getComputedStyle(document.querySelector(".bs-grid")).gridTemplateColumns.split(" ").length`)
			if cols != c.columns {
				t.Errorf("story grid: %d columns, want %d", cols, c.columns)
			}
			beside := eval[bool](tb, `(() => {
				const m = document.querySelector("main").getBoundingClientRect(), s = document.querySelector(".bs-side").getBoundingClientRect();
				return s.left >= m.right - 1 && s.top < m.bottom;
			})()`)
			if beside != c.beside {
				t.Errorf("sidebar beside the main column: %v, want %v", beside, c.beside)
			}
			// The navigation is one row on a phone (it scrolls sideways
			// within itself), never wrapped over several.
			rows := eval[int](tb, `new Set(Array.from(document.querySelectorAll(".bs-nav__list > li"), li => Math.round(li.getBoundingClientRect().top))).size`)
			if rows != 1 {
				t.Errorf("navigation on %d rows, want 1", rows)
			}
			font := eval[float64](tb, `parseFloat(getComputedStyle(document.querySelector(".bs-card__summary")).fontSize)`)
			if font < 14 {
				t.Errorf("card summaries in %.1fpx type, want 14px or more", font)
			}
		})
	}
}
