// Package htmlnorm keeps a fragment's HTML from changing the page around it.
//
// A fragment's HTML is placed inside a page it knows nothing of, and a
// browser parses the two as one document: an element the fragment leaves
// open takes in everything after it (an unclosed <table> keeps the rest of
// the column and the footer in its cell), a closing tag it has no opening
// for closes one of the page's, and a tag, comment or script cut off at its
// end runs on into the page. Normalize returns HTML that closes every
// element it opens, closes nothing it did not open and ends outside any
// tag, comment or raw text, so that the page goes on after it as if it were
// not there.
//
// It works in two passes of very different cost. Most fragments are rendered
// by templ and are already in that form, so the first pass (scan.go) only
// checks: it tokenizes the HTML as an HTML5 tokenizer does, within a strict
// subset of the syntax (syntax.go), and verifies that the tree a browser
// builds from it is the one its tags spell (tree.go) — every element closed
// by its own end tag, none that the tree construction would close, move or
// ignore by itself. Such HTML is returned as it is, without a copy. Anything
// else is rebuilt (rebuild.go): parsed by golang.org/x/net/html, which
// implements the HTML5 tree construction a browser uses, as the content of a
// <div>, and written back from the tree it built — what a browser would have
// made of it, in a form it cannot make anything else of.
//
// Include elements (<bs-include …></bs-include>, which the composer
// replaces with another fragment's HTML) are recognized only in markup —
// never in a comment, in raw text (<script>, <style>, <textarea>,
// <title>, <noscript>) or in an attribute value — and are kept byte for
// byte where the first pass accepts the HTML.
package htmlnorm

import (
	"bytes"
	"errors"
)

// IncludeElement is the name of the include element, lower case as
// written.
const IncludeElement = "bs-include"

// includeEnd is the end tag that closes an include element at once.
const includeEnd = "</" + IncludeElement + ">"

// maxIncludeSpace is how much white space may stand between an include's
// start tag and its end tag for the two to be one include.
const maxIncludeSpace = 64

// Span is where one include element stands in HTML: [Start, End) holds its
// start tag and, when the end tag follows at once (after at most a little
// white space), its end tag too.
type Span struct{ Start, End int }

// maxRounds bounds how many times Normalize rebuilds HTML that the first
// pass still does not accept, looking for the form that rebuilding leaves
// as it is.
const maxRounds = 3

// MaxRebuild is the most HTML that Normalize rebuilds. Rebuilding costs a
// parse and a tree (up to a few microseconds a byte for the worst inputs,
// whose trees grow several times larger than they are): a fragment larger
// than this must come balanced.
const MaxRebuild = 256 << 10

// ErrTooLarge is the error of Normalize for HTML over MaxRebuild bytes
// that is not in form.
var ErrTooLarge = errors.New("htmlnorm: unbalanced HTML over 256 KiB")

// Result is HTML as Normalize returns it.
type Result struct {
	// HTML is the normalized HTML: the input itself, not a copy, when it
	// was in form; otherwise newly allocated.
	HTML []byte
	// Includes are the spans of its include elements, in order.
	Includes []Span
	// Changed reports that HTML is not the input: it had to be rewritten.
	Changed bool
}

// Normalize returns src in a form that closes every element it opens and
// closes nothing it did not open, with the spans of the include elements
// in it. src is not modified. Normalize is idempotent: its result,
// normalized again, is returned unchanged. It fails only for HTML over
// MaxRebuild bytes that is not in form; HTML that cannot be parsed at all
// comes back escaped, as text. It is safe for concurrent use.
func Normalize(src []byte) (Result, error) {
	if spans, ok := scan(src, false); ok {
		return Result{HTML: src, Includes: spans}, nil
	}
	if len(src) > MaxRebuild {
		return Result{}, ErrTooLarge
	}
	out := rebuild(src)
	var spans []Span
	accepted := false
	for range maxRounds {
		if spans, accepted = scan(out, false); accepted || len(out) > MaxRebuild {
			break
		}
		again := rebuild(out)
		if bytes.Equal(again, out) {
			break
		}
		out = again
	}
	if !accepted {
		spans = Includes(out)
	}
	if bytes.Equal(out, src) {
		// HTML the first pass leaves to the rebuild, which writes it
		// back as it was: in form.
		return Result{HTML: src, Includes: spans}, nil
	}
	return Result{HTML: out, Includes: spans, Changed: true}, nil
}

// Includes returns the spans of the include elements of src in document
// order, without normalizing it: src may be a whole document (a layout's
// output) and is trusted to be well formed. Tags in comments, raw text and
// attribute values are not include elements. It is safe for concurrent
// use.
func Includes(src []byte) []Span {
	if !bytes.Contains(src, []byte("<"+IncludeElement)) {
		return nil
	}
	if spans, ok := scan(src, true); ok {
		return spans
	}
	return tokenIncludes(src)
}
