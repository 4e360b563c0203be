package e2e

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// auditJS checks, in the page, what axe-core (axe_test.go) does not:
// exactly one h1 (axe asks for at least one), no svg left unnamed unless
// hidden, no id used twice (axe's duplicate-id rule is retired), and
// nothing scrolling the page sideways (reflow is no axe rule). It returns
// a list of problems (empty when all is well).
const auditJS = `(() => {
  const problems = [];
  const say = (what, el) => problems.push(what + (el ? ": " + describe(el) : ""));
  const describe = el => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.classList.length) s += "." + Array.from(el.classList).join(".");
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return text ? s + " \"" + text + "\"" : s;
  };

  const h1s = document.querySelectorAll("h1");
  if (h1s.length !== 1) say("want exactly one h1, have " + h1s.length);
  for (const svg of document.querySelectorAll("svg"))
    if (svg.getAttribute("aria-hidden") !== "true" && !svg.closest("[role=img]") && !svg.getAttribute("aria-label") && !svg.querySelector("title"))
      say("svg neither hidden nor named", svg);
  const ids = new Map();
  for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, n] of ids) if (n > 1) say("id " + id + " used " + n + " times");

  // Nothing scrolls the page sideways.
  const overflow = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  if (overflow > 1) {
    let widest = null;
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.right > document.documentElement.clientWidth + 1 && (!widest || r.width < widest.getBoundingClientRect().width)) widest = el;
    }
    say("the page scrolls sideways by " + overflow + "px", widest);
  }
  return problems;
})()`

// focusJS reports how the focused element shows its focus: its selector
// and its computed outline style and width, or "" when nothing is focused.
const focusJS = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "";
  const cs = getComputedStyle(el);
  const visible = el.matches(":focus-visible") && cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2;
  return (visible ? "visible " : "invisible ") + el.tagName.toLowerCase() + (el.className ? "." + el.className : "") + " outline " + cs.outlineStyle + " " + cs.outlineWidth;
})()`

// audit fails the test with every accessibility problem on the page:
// axe-core's failing violations, then the project's own checks.
func (tb *tab) audit(what string) {
	tb.t.Helper()
	for _, p := range tb.axeViolations() {
		tb.t.Errorf("%s: axe: %s", what, p)
	}
	for _, p := range eval[[]string](tb, auditJS) {
		tb.t.Errorf("%s: %s", what, p)
	}
}

// TestAuditFindsProblems makes sure the project's own checks are not
// vacuous: a page with the faults they look for gets them reported.
func TestAuditFindsProblems(t *testing.T) {
	tb := newTab(t, desktop)
	const page = `<!DOCTYPE html><html lang="en"><head><title>t</title></head><body>` +
		`<main><h1>One</h1><h1>Two</h1><svg width="10" height="10"></svg><p id="a">a</p><p id="a">b</p>` +
		`<div style="width:3000px">wide</div></main></body></html>`
	tb.do(navigateData(page))
	got := strings.Join(eval[[]string](tb, auditJS), "\n")
	for _, want := range []string{"exactly one h1", "svg neither hidden nor named", "id a used 2 times", "scrolls sideways"} {
		if !strings.Contains(got, want) {
			t.Errorf("the audit missed %q; it said:\n%s", want, got)
		}
	}
}

// navigateData loads html as a data: URL.
func navigateData(html string) chromedp.Action[chromedp.Void] {
	return chromedp.Navigate("data:text/html," + url.PathEscape(html))
}
