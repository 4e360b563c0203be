package htmlnorm

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/net/html"

	"github.com/broadsheet/broadsheet/internal/htmltest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The fragments of the benchmarks and tests: what templ renders for the
// demo's score and story card.
const (
	score = `<li class="bs-score bs-score--live"><span class="bs-score__home">Team m0042</span><span class="bs-score__result">2–1</span><span class="bs-score__away">Rivals FC</span><span class="bs-score__clock">78&#39;</span></li>`
	card  = `<article class="bs-card bs-card--world"><a class="bs-card__link" href="/news/s0042">` +
		`<div class="bs-pic bs-pic--world" role="img" aria-label="A harbour at dawn">` +
		`<svg viewBox="0 0 160 90" preserveAspectRatio="xMidYMid slice" aria-hidden="true" focusable="false">` +
		`<circle class="bs-pic__shape bs-pic__shape--0" cx="40" cy="30" r="22"></circle>` +
		`<circle class="bs-pic__shape bs-pic__shape--1" cx="110" cy="60" r="35"></circle></svg></div>` +
		`<h3 class="bs-card__title">Harbour reopens after the storm &amp; the tide</h3></a>` +
		`<p class="bs-card__summary">Ships moved again on Tuesday, three days after the storm.</p>` +
		`<p class="bs-meta"><a class="bs-meta__section" href="/news/world">World</a> <time datetime="2024-05-01T07:00:00Z">1 May</time></p></article>`
)

// board is a scoreboard of n includes, as the composer's benchmark page.
func board(n int) []byte {
	var b strings.Builder
	b.WriteString(`<ol class="bs-board">`)
	for i := range n {
		fmt.Fprintf(&b, `<bs-include fragment="score" match="m%04d"></bs-include>`, i)
	}
	b.WriteString(`</ol>`)
	return []byte(b.String())
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		includes       []string // the text of each include span
	}{
		// Already in form: returned as it is.
		{name: "score", in: score, want: score},
		{name: "card with svg", in: card, want: card},
		{name: "void elements", in: `<p>a<br>b<img src="x.png" alt=""><input type=checkbox checked><br/></p>`, want: `<p>a<br>b<img src="x.png" alt=""><input type=checkbox checked><br/></p>`},
		{name: "raw text keeps its content", in: `<script>if (a < b && c) { x = "</div>"; }</script><style>a > b { c: "<p>" }</style><textarea><b></textarea><title>a<b</title>`, want: `<script>if (a < b && c) { x = "</div>"; }</script><style>a > b { c: "<p>" }</style><textarea><b></textarea><title>a<b</title>`},
		{name: "comment", in: `<!-- a <div> -- b --><p>x</p>`, want: `<!-- a <div> -- b --><p>x</p>`},
		{name: "table", in: `<table><caption>c</caption><thead><tr><th>h</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>`, want: `<table><caption>c</caption><thead><tr><th>h</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>`},
		{name: "rows for a page's table", in: `<tr><td>1</td><td>2</td></tr>`, want: `<tr><td>1</td><td>2</td></tr>`},
		{name: "svg title", in: `<svg><title>Sun</title><circle r="1"/></svg>`, want: `<svg><title>Sun</title><circle r="1"/></svg>`},
		{name: "lists", in: `<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul><dl><dt>t</dt><dd>d</dd></dl>`, want: `<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul><dl><dt>t</dt><dd>d</dd></dl>`},
		{name: "text with a lone <", in: `<p>1 < 2</p>`, want: `<p>1 < 2</p>`},

		// The case: what it leaves open is closed.
		{name: "unbalanced table", in: `<div class="x"><table><tr><td>open`, want: `<div class="x"><table><tbody><tr><td>open</td></tr></tbody></table></div>`},
		{name: "stray closing tags", in: `</div></section>text</p><b>bold</b></li>`, want: `text<p></p><b>bold</b>`},
		{name: "end tag of an element opened before", in: `<span>a</span></td></tr></table>b`, want: `<span>a</span>b`},
		{name: "misnested", in: `<b><i>x</b>y</i>`, want: `<b><i>x</i></b><i>y</i>`},
		{name: "p closed by a block", in: `<p>a<div>b</div>`, want: `<p>a</p><div>b</div>`},
		{name: "li in li", in: `<ul><li>a<li>b</ul>`, want: `<ul><li>a</li><li>b</li></ul>`},
		{name: "a in a", in: `<a href="/x">x<a href="/y">y</a></a>`, want: `<a href="/x">x</a><a href="/y">y</a>`},
		{name: "foster parenting", in: `<table><div>moved</div><tr><td>1</td></tr></table>`, want: `<div>moved</div><table><tbody><tr><td>1</td></tr></tbody></table>`},
		{name: "self-closing div", in: `<div/>after`, want: `<div>after</div>`},
		{name: "unclosed raw text", in: `<style>a { color: red }`, want: `<style>a { color: red }</style>`},
		{name: "unclosed comment", in: `<p>a</p><!-- b`, want: `<p>a</p><!-- b-->`},
		{name: "tag cut off", in: `<p>a</p><div class="x`, want: `<p>a</p>`},
		{name: "< at the end", in: `a <`, want: `a &lt;`},
		{name: "script cut off in its escape states", in: `<script><!--<script>x`, want: `<script></script>`},
		{name: "plaintext", in: `<plaintext>a<b>`, want: `<pre>a&lt;b&gt;</pre>`},
		{name: "noscript is balanced as markup", in: `<noscript><div>x</noscript>`, want: `<noscript><div>x</div></noscript>`},
		{name: "a noscript in a noscript is unwrapped", in: `<noscript><div>0<noscript>1`, want: `<noscript><div>01</div></noscript>`},
		{name: "a comment closing a noscript is dropped", in: `<noscript><p><!--</noscript><p>x--></p></noscript>y`, want: `<noscript><p></p></noscript>y`},
		{name: "a script closing a noscript is emptied", in: `<noscript><script>a="</NOSCRIPT>"</script></noscript>`, want: `<noscript><script></script></noscript>`},
		{name: "base dropped", in: `<base href="http://evil.example/"><p>x</p>`, want: `<p>x</p>`},
		{name: "body and html tags dropped", in: `<html><body class="x"><p>x</p></body></html>`, want: `<p>x</p>`},
		{name: "breaking out of svg", in: `<svg><g><p>x</p></g></svg>`, want: `<svg><g></g></svg><p>x</p>`},

		// Includes: in markup only, kept byte for byte.
		{name: "include", in: `<ol><bs-include fragment="score" match="m1"></bs-include></ol>`, want: `<ol><bs-include fragment="score" match="m1"></bs-include></ol>`, includes: []string{`<bs-include fragment="score" match="m1"></bs-include>`}},
		{name: "include self-closing", in: `<bs-include fragment="x"/>tail`, want: `<bs-include fragment="x"/>tail`, includes: []string{`<bs-include fragment="x"/>`}},
		{name: "include with space before its end tag", in: "<bs-include fragment=\"x\">\n  </bs-include>", want: "<bs-include fragment=\"x\">\n  </bs-include>", includes: []string{"<bs-include fragment=\"x\">\n  </bs-include>"}},
		{name: "include in a table", in: `<table><tbody><bs-include fragment="row"></bs-include></tbody></table>`, want: `<table><tbody><bs-include fragment="row"></bs-include></tbody></table>`, includes: []string{`<bs-include fragment="row"></bs-include>`}},
		{name: "include in a comment", in: `<!-- <bs-include fragment="x"></bs-include> -->`, want: `<!-- <bs-include fragment="x"></bs-include> -->`},
		{name: "include in a script", in: `<script>document.write('<bs-include fragment="x"></bs-include>')</script>`, want: `<script>document.write('<bs-include fragment="x"></bs-include>')</script>`},
		{name: "include in a style", in: `<style>/* <bs-include fragment="x"> */</style>`, want: `<style>/* <bs-include fragment="x"> */</style>`},
		{name: "include in an attribute", in: `<div title='<bs-include fragment="x"></bs-include>'>a</div>`, want: `<div title='<bs-include fragment="x"></bs-include>'>a</div>`},
		{name: "include in an unbalanced fragment", in: `<div><bs-include fragment="a" n="1"></bs-include>`, want: `<div><bs-include fragment="a" n="1"></bs-include></div>`, includes: []string{`<bs-include fragment="a" n="1"></bs-include>`}},
		{name: "include with content", in: `<div><bs-include fragment="a">kept</bs-include></div><p>`, want: `<div><bs-include fragment="a"></bs-include>kept</div><p></p>`, includes: []string{`<bs-include fragment="a"></bs-include>`}},
		{name: "include written in upper case", in: `<BS-INCLUDE fragment="a"></BS-INCLUDE><p>`, want: `<bs-include fragment="a"></bs-include><p></p>`, includes: []string{`<bs-include fragment="a"></bs-include>`}},
		{name: "stray include end tag", in: `a</bs-include>b`, want: `ab`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Normalize([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			out, spans, changed := r.HTML, r.Includes, r.Changed
			if string(out) != tc.want {
				t.Fatalf("Normalize(%q)\n got %q\nwant %q", tc.in, out, tc.want)
			}
			if changed != (tc.in != tc.want) {
				t.Errorf("changed = %v", changed)
			}
			var incs []string
			for _, s := range spans {
				incs = append(incs, string(out[s.Start:s.End]))
			}
			if !slices.Equal(incs, tc.includes) {
				t.Errorf("includes %q, want %q", incs, tc.includes)
			}
			if err := properties(out); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestNormalizeTooLarge: HTML over MaxRebuild is not rebuilt (its cost
// grows with it, see MaxRebuild), but still accepted in form.
func TestNormalizeTooLarge(t *testing.T) {
	big := strings.Repeat("<i><b><p>x", MaxRebuild/10+1)
	if _, err := Normalize([]byte(big)); err != ErrTooLarge {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if r, err := Normalize(board(10000)); err != nil || r.Changed || len(r.Includes) != 10000 {
		t.Fatalf("a board of 10,000 includes (%d bytes): %v, %v, %d includes", len(board(10000)), err, r.Changed, len(r.Includes))
	}
}

// TestNormalizeDeep: nesting is bounded in the first pass, whose checks
// look down the open elements (unbounded, a megabyte of <div> took
// minutes); deeper HTML is rebuilt.
func TestNormalizeDeep(t *testing.T) {
	deep := strings.Repeat("<div>", maxDepth+1) + strings.Repeat("</div>", maxDepth+1)
	if _, ok := scan([]byte(deep), false); ok {
		t.Fatal("the first pass accepted HTML deeper than maxDepth")
	}
	if r, err := Normalize([]byte(deep)); err != nil || r.Changed {
		t.Fatalf("Normalize: %v, changed %v", err, r.Changed)
	}
}

// TestNormalizeDoesNotCopy: HTML in form is returned as it is, not a copy.
func TestNormalizeDoesNotCopy(t *testing.T) {
	for _, in := range [][]byte{[]byte(score), []byte(card), board(100)} {
		r, err := Normalize(in)
		if err != nil || r.Changed || &r.HTML[0] != &in[0] || len(r.HTML) != len(in) {
			t.Fatalf("Normalize copied %.40q (changed=%v, err %v)", in, r.Changed, err)
		}
	}
}

func TestIncludes(t *testing.T) {
	doc := `<!doctype html><html><head><title>T <bs-include fragment="no"></title>` +
		`<script>var s = '<bs-include fragment="no">';</script><script>x = "<!--"; y = '<bs-include fragment="no">'; z = "-->"</script>` +
		`</head><body><!-- <bs-include fragment="no"> --><p title="<bs-include fragment=&quot;no&quot;>">` +
		`<bs-include page-index="0"></bs-include></p><svg><style><bs-include fragment="svg"/></style></svg>` +
		`<noscript><bs-include fragment="no"></noscript><bs-include page-index="1">` + "\n" + `</bs-include></body></html>`
	var got []string
	for _, s := range Includes([]byte(doc)) {
		got = append(got, doc[s.Start:s.End])
	}
	want := []string{`<bs-include page-index="0"></bs-include>`, `<bs-include fragment="svg"/>`, "<bs-include page-index=\"1\">\n</bs-include>"}
	if !slices.Equal(got, want) {
		t.Fatalf("Includes = %q, want %q", got, want)
	}
	if spans := tokenIncludes([]byte(doc)); !equalSpans(spans, Includes([]byte(doc))) {
		t.Fatalf("the tokenizer's reading differs: %v", spans)
	}
}

func equalSpans(a, b []Span) bool { return slices.Equal(a, b) }

// marker names the element placed after a fragment in the contexts.
const marker = "bs-after-q7"

// contexts are places a fragment may stand in a page: the content of a
// <div>, a table cell and a list item.
var contexts = []struct{ name, before, after string }{
	{"div", `<!DOCTYPE html><body><div><div>`, `</div><p id="` + marker + `"></p></div>`},
	{"td", `<!DOCTYPE html><body><table><tbody><tr><td>`, `</td><td id="` + marker + `"></td></tr></tbody></table>`},
	{"li", `<!DOCTYPE html><body><ul><li>`, `</li><li id="` + marker + `"></li></ul>`},
}

// properties checks what Normalize promises of its result out: that it
// normalizes to itself, with the same includes, and that in every context,
// with scripting on and off, the element after it keeps the ancestors it
// has with nothing before it — nothing in out takes it in, and nothing
// closes an element of the page.
func properties(out []byte) error {
	r, err := Normalize(out)
	if err != nil || r.Changed || !bytes.Equal(r.HTML, out) {
		return fmt.Errorf("not idempotent: %q normalizes to %q (%v)", out, r.HTML, err)
	}
	if !equalSpans(r.Includes, Includes(out)) {
		return fmt.Errorf("the includes of %q are %v, Includes finds %v", out, r.Includes, Includes(out))
	}
	for _, s := range r.Includes {
		if !bytes.HasPrefix(out[s.Start:], []byte("<"+IncludeElement)) {
			return fmt.Errorf("span %v of %q is not an include", s, out)
		}
	}
	if bytes.Contains(out, []byte(marker)) {
		return nil
	}
	for _, c := range contexts {
		for _, scripting := range []bool{true, false} {
			opt := html.ParseOptionEnableScripting(scripting)
			want := htmltest.Ancestors(c.before+c.after, htmltest.ID(marker), opt)
			got := htmltest.Ancestors(c.before+string(out)+c.after, htmltest.ID(marker), opt)
			if got != want {
				return fmt.Errorf("in a %s (scripting %v), the element after %q has ancestors %s, want %s", c.name, scripting, out, got, want)
			}
		}
	}
	return nil
}

// seeds are the fuzz targets' starting points beside testdata/fuzz.
var seeds = []string{
	score, card,
	`<div class="x"><table><tr><td>open`,
	`<p>a<div>b</div>`, `<ul><li>a<li>b</ul>`, `<b><i>x</b>y</i>`,
	`<!-- a`, `<!--->`, `<script><!--<script>x`, `<plaintext>a`, `<noscript><div>`,
	`<svg><g><p>x</p></g></svg>`, `<math><mi><div>x</div></mi></math>`,
	`<select><option>a<style>b</style></select>`, `<table><table>`,
	`<div title="<bs-include fragment=x>"><bs-include fragment="y"></bs-include></div>`,
	`<bs-include fragment="x"/>z`, `<BS-INCLUDE fragment=x>`,
}

// FuzzNormalize: Normalize never fails, and its result has the properties
// it promises (see properties).
func FuzzNormalize(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := Normalize(in)
		if err != nil {
			if len(in) <= MaxRebuild {
				t.Fatalf("Normalize(%q): %v", in, err)
			}
			return
		}
		if !r.Changed && !bytes.Equal(r.HTML, in) {
			t.Fatalf("changed %q to %q without saying so", in, r.HTML)
		}
		if err := properties(r.HTML); err != nil {
			t.Fatalf("Normalize(%q): %v", in, err)
		}
	})
}

// FuzzIncludes: the scanner reads a document as the HTML5 tokenizer does —
// where it reads it at all, it finds the include elements the tokenizer
// finds; and whatever it accepts as normalized it finds them in too.
func FuzzIncludes(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		oracle := tokenIncludes(in)
		for _, lenient := range []bool{true, false} {
			if spans, ok := scan(in, lenient); ok && !equalSpans(spans, oracle) {
				t.Fatalf("scanner (lenient %v) finds %v in %q, the tokenizer %v", lenient, spans, in, oracle)
			}
		}
	})
}

// BenchmarkLeafTest is what a fill of a score or a card cost before it was
// normalized: the test for an include tag (composer.MayInclude), the
// baseline of BenchmarkNormalize's figures.
func BenchmarkLeafTest(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"score", []byte(score)}, {"card", []byte(card)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				bytes.Contains(bc.in, []byte("<"+IncludeElement))
			}
		})
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{
		{"score", []byte(score)},
		{"card", []byte(card)},
		{"board2000", board(2000)},
		{"unbalanced", []byte(`<div class="x"><table><tr><td>open`)},
		{"unbalancedCard", []byte(strings.TrimSuffix(card, "</article>"))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
