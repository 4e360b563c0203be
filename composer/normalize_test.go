package composer

import (
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/htmltest"
)

// TestUnbalancedFragmentsCannotBreakThePage composes fragments whose HTML
// is unbalanced, before another include and inside a parent's table cell:
// parsed as a browser parses the page, what follows them stays where the
// page put it.
func TestUnbalancedFragmentsCannotBreakThePage(t *testing.T) {
	for _, bad := range []string{
		`<div class="x"><table><tr><td>open`, // the case
		`</main></body><p>closes the page's elements`,
		`<ul><li>one<li>two`,
		`<p>text <b>bold <i>both`,
		`<!-- a comment never closed`,
		`<script>var s = "never closed`,
		`<textarea>never closed`,
		`<div title="an attribute never closed`,
		`<svg><g><circle r="1">`,
		`<select><option>one`,
		`<plaintext>everything after`,
		`<table><tr><td>cell</td></tr>` + IncludeTag("after"),
	} {
		t.Run(bad, func(t *testing.T) {
			broken := static("broken", bad)
			broken.Includes = []string{"after"}
			cell := static("cell", `<table><tr><td>`+IncludeTag("broken")+`</td><td id="next-cell">next</td></tr></table>`)
			cell.Includes = []string{"broken"}
			site := testSite([]*Spec{broken, cell, static("after", `<p id="after">after</p>`)}, time.Second, "broken", "after", "cell")
			c := newTestComposer(t, site, Options{})
			for _, state := range []string{"cold", "warm"} {
				page := body(serve(c, ""))
				if got := htmltest.Ancestors(page, htmltest.ID("after")); got != "main<body<html" {
					t.Errorf("%s: after %q, the next include's ancestors are %s\n%s", state, bad, got, page)
				}
				if got := htmltest.Ancestors(page, htmltest.ID("next-cell")); got != "tr<tbody<table<main<body<html" {
					t.Errorf("%s: after %q in a cell, the next cell's ancestors are %s\n%s", state, bad, got, page)
				}
			}
			if n := c.Stats().Normalized.Load(); n != 1 {
				t.Errorf("Normalized = %d, want 1: once, when the value was filled", n)
			}
		})
	}
}

// TestTooLargeToNormalize: unbalanced HTML too large to rebuild (see
// htmlnorm.MaxRebuild) fails its call, and its include falls back.
func TestTooLargeToNormalize(t *testing.T) {
	big := static("big", strings.Repeat("<i><b><p>x", 30<<10))
	big.Defaults.Fallback = `<p id="fallback">later</p>`
	c := newTestComposer(t, testSite([]*Spec{big}, time.Second, "big"), Options{})
	if page := body(serve(c, "")); !strings.Contains(page, `<p id="fallback">later</p>`) {
		t.Fatalf("no fallback:\n%.300s", page)
	}
}

// TestIncludesOnlyInMarkup: a tag in a comment, a script, a style or an
// attribute value is text, not an include.
func TestIncludesOnlyInMarkup(t *testing.T) {
	tag := IncludeTag("secret")
	host := static("host", `<!-- `+tag+` --><script>var t = '`+tag+`';</script><style>/* `+tag+` */</style>`+
		`<div title='`+tag+`'>t</div><textarea>`+tag+`</textarea>`+IncludeTag("shown"))
	host.Includes = []string{"secret", "shown"}
	site := testSite([]*Spec{host, static("secret", `<b id="secret">secret</b>`), static("shown", `<b id="shown">shown</b>`)}, time.Second, "host")
	page := body(serve(newTestComposer(t, site, Options{}), ""))
	if strings.Contains(page, `id="secret"`) {
		t.Fatalf("an include outside markup was expanded:\n%s", page)
	}
	if !strings.Contains(page, `<b id="shown">shown</b>`) || strings.Count(page, tag) != 5 {
		t.Fatalf("the tags outside markup must stay as they were, the include in markup expanded:\n%s", page)
	}
}

func TestNormalizeHTML(t *testing.T) {
	for in, want := range map[string]string{
		`<p class="bs-fallback">Scores are taking a moment…</p>`: `<p class="bs-fallback">Scores are taking a moment…</p>`,
		`<div class="x"><table><tr><td>open`:                     `<div class="x"><table><tbody><tr><td>open</td></tr></tbody></table></div>`,
		`</div>stray`:                                            `stray`,
		``:                                                       ``,
	} {
		if got := NormalizeHTML(in); got != want {
			t.Errorf("NormalizeHTML(%q) = %q, want %q", in, got, want)
		}
	}
}
