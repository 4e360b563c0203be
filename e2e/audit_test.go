package e2e

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// auditJS checks, in the page, what a reader with a screen reader, a
// keyboard or weak eyes needs, and that nothing scrolls the page sideways.
// It returns a list of problems (empty when all is well).
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
  const visible = el => {
    const cs = getComputedStyle(el);
    if (cs.visibility === "hidden" || cs.display === "none") return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1;
  };

  // Landmarks and headings.
  const mains = document.querySelectorAll("main");
  if (mains.length !== 1) say("want exactly one main, have " + mains.length);
  const h1s = document.querySelectorAll("h1");
  if (h1s.length !== 1) say("want exactly one h1, have " + h1s.length);
  let prev = 0;
  for (const h of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    const level = Number(h.tagName[1]);
    if (prev === 0 && level !== 1) say("the first heading is not an h1", h);
    if (prev !== 0 && level > prev + 1) say("heading skips from h" + prev + " to h" + level, h);
    prev = level;
  }
  if (!document.documentElement.lang) say("html has no lang");
  if (!document.title.trim()) say("the page has no title");

  // Text alternatives and names.
  for (const img of document.querySelectorAll("img")) if (!img.hasAttribute("alt")) say("img without alt", img);
  for (const el of document.querySelectorAll("[role=img]"))
    if (!el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby")) say("role=img without a label", el);
  for (const svg of document.querySelectorAll("svg"))
    if (svg.getAttribute("aria-hidden") !== "true" && !svg.closest("[role=img]") && !svg.getAttribute("aria-label") && !svg.querySelector("title"))
      say("svg neither hidden nor named", svg);
  for (const el of document.querySelectorAll("input:not([type=hidden]), textarea, select")) {
    const labelled = (el.id && document.querySelector("label[for='" + CSS.escape(el.id) + "']")) || el.closest("label") ||
      el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!labelled) say("form field without a label", el);
  }
  for (const el of document.querySelectorAll("a[href], button"))
    if (!el.textContent.trim() && !el.getAttribute("aria-label") && !el.querySelector("img[alt]:not([alt=''])")) say("link or button without a name", el);
  for (const el of document.querySelectorAll("iframe")) if (!el.title) say("iframe without a title", el);
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

  // Text contrast (WCAG AA): 4.5:1, or 3:1 for large text, against the
  // first opaque background behind the text. Text on pictures (gradients)
  // is skipped.
  const rgba = s => { const m = s.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const blend = (fg, bg) => ({ r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1 });
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage !== "none") return null;
      const c = rgba(cs.backgroundColor);
      if (c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const c of layers.reverse()) bg = blend(c, bg);
    return bg;
  };
  let checked = 0;
  const seen = new Set();
  for (const el of document.body.querySelectorAll("*")) {
    if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    if (el.closest(".bs-vh, .bs-skip, [aria-hidden=true]") || !visible(el)) continue;
    const cs = getComputedStyle(el);
    const bg = background(el);
    if (!bg) continue;
    const fg = blend(rgba(cs.color), bg);
    const L1 = lum(fg), L2 = lum(bg);
    const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
    const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    checked++;
    if (ratio < need) {
      const key = cs.color + "/" + JSON.stringify(bg) + "/" + el.className;
      if (seen.has(key)) continue;
      seen.add(key);
      say("contrast " + ratio.toFixed(2) + " < " + need + " (" + cs.color + " on rgb(" + [bg.r, bg.g, bg.b].map(Math.round) + "))", el);
    }
  }
  if (checked === 0) say("no text was checked for contrast");
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

// audit fails the test with every accessibility problem on the page.
func (tb *tab) audit(what string) {
	tb.t.Helper()
	for _, p := range eval[[]string](tb, auditJS) {
		tb.t.Errorf("%s: %s", what, p)
	}
}

// TestAuditFindsProblems makes sure the audit is not vacuous: a page with
// known faults gets them reported.
func TestAuditFindsProblems(t *testing.T) {
	tb := newTab(t, desktop)
	const page = `<!DOCTYPE html><html><head><title>t</title></head><body>` +
		`<main><h1>One</h1><h3>Skipped</h3><p style="color:#bbb">faint</p>` +
		`<input id=x><div role=img></div><div style="width:3000px">wide</div></main><main></main></body></html>`
	tb.do(chromedp.Navigate("data:text/html," + url.PathEscape(page)))
	got := strings.Join(eval[[]string](tb, auditJS), "\n")
	for _, want := range []string{"exactly one main", "skips from h1 to h3", "contrast", "form field without a label", "role=img without a label", "scrolls sideways", "html has no lang"} {
		if !strings.Contains(got, want) {
			t.Errorf("the audit missed %q; it said:\n%s", want, got)
		}
	}
}
