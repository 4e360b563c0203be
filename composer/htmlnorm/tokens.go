package htmlnorm

import (
	"bytes"
	"io"
	"strings"

	"golang.org/x/net/html"
)

// tokenIncludes finds the include elements of src with the x/net/html
// tokenizer, for a document outside the scanner's subset. It tells
// foreign content (SVG, MathML) from HTML by the names of the elements
// open, as the scanner does, which is exact for a well-formed document and
// a fair reading of any other.
//
// It is one loop over the tokens, as the scanner is: the stack of open
// elements and the include whose end tag may come next are its state.
func tokenIncludes(src []byte) []Span {
	type open struct {
		name    string
		foreign bool
	}
	var (
		stack   []open
		spans   []Span
		off     int
		pending = -1 // the include whose end tag may come next
		spaced  int  // white space read since its start tag
	)
	inForeign := func() bool { return len(stack) > 0 && stack[len(stack)-1].foreign }
	z := html.NewTokenizer(bytes.NewReader(src))
	for {
		z.AllowCDATA(inForeign())
		tt := z.Next()
		if tt == html.ErrorToken {
			return spans
		}
		raw := z.Raw()
		start := off
		off += len(raw)
		if pending >= 0 {
			switch {
			case tt == html.TextToken && spaced+len(raw) <= maxIncludeSpace && allIncludeSpace(raw):
				spaced += len(raw)
				continue
			case tt == html.EndTagToken && string(raw) == includeEnd:
				spans[pending].End = off
				pending = -1
				continue
			}
			pending = -1
		}
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			if isIncludeTag(raw) {
				spans = append(spans, Span{start, off})
				if tt == html.StartTagToken {
					pending, spaced = len(spans)-1, 0
				}
				continue
			}
			name, _ := z.TagName()
			in := lookup(name)
			if inForeign() {
				if in&fBreakout == 0 {
					// No raw text in foreign content: a <style> in an
					// <svg> holds markup.
					z.NextIsNotRawText()
					if tt == html.StartTagToken {
						stack = append(stack, open{string(name), in&fIntegration == 0})
					}
					continue
				}
				for inForeign() {
					stack = stack[:len(stack)-1]
				}
			}
			switch {
			case in&fForeign != 0:
				if tt == html.StartTagToken {
					stack = append(stack, open{string(name), true})
				}
			case tt == html.StartTagToken && in&fVoid == 0:
				stack = append(stack, open{string(name), false})
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			for k := len(stack) - 1; k >= 0 && k >= len(stack)-maxDepth; k-- {
				if stack[k].name == string(name) {
					stack = stack[:k]
					break
				}
			}
		}
	}
}

// isIncludeTag reports whether raw, a start tag, is an include element's
// as written (lower case).
func isIncludeTag(raw []byte) bool {
	n := 1 + len(IncludeElement)
	return len(raw) > n && string(raw[1:n]) == IncludeElement && isNameEnd(raw[n])
}

func allIncludeSpace(b []byte) bool {
	for _, c := range b {
		if !isIncludeSpace(c) {
			return false
		}
	}
	return true
}

// scriptEnd returns where the raw text of a script element that starts at
// from ends — the index of its end tag — as the tokenizer finds it through
// the escape states of script data.
func scriptEnd(src []byte, from int) (int, bool) {
	z := html.NewTokenizer(io.MultiReader(strings.NewReader("<script>"), bytes.NewReader(src[from:])))
	if z.Next() != html.StartTagToken {
		return 0, false
	}
	switch z.Next() {
	case html.TextToken:
		n := len(z.Raw())
		if z.Next() != html.EndTagToken {
			return 0, false
		}
		return from + n, true
	case html.EndTagToken:
		return from, true
	}
	return 0, false
}
