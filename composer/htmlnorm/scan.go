package htmlnorm

import (
	"bytes"
	"sync"
)

// The first pass. The scanner reads HTML as the HTML5 tokenizer does, but
// only within a subset of the syntax in which its reading cannot differ
// from the tokenizer's: tags whose attributes are name, name=value,
// name="value" or name='value', separated by white space; comments
// <!--…-->; raw text closed by its end tag; a '<' that starts nothing only
// where more input follows it. It gives up (run returns false) on anything
// else: bogus comments, <![CDATA[, a tag cut off by the end of the input.
//
// Strict, it also checks the tree: each start tag must be one whose
// element a browser opens where it stands, and each end tag must close the
// current element — so that the tree a browser builds is the one the tags
// spell, and one the rebuild would write back the same. That rules out
// every start tag that closes something by itself (a <div> in an open <p>,
// an <li> in an open <li>, a <td> in a cell), foster parenting (anything
// but table structure directly in a table), self-closing syntax on an
// element that is not void, and the elements listed fReject. Lenient (for
// Includes) it only tokenizes, following end tags as loosely as a browser.

type kind uint8

const (
	kFlow        kind = iota // ordinary content
	kTable                   // <table>: table structure only
	kSection                 // <tbody>, <thead>, <tfoot>: rows only
	kRow                     // <tr>: cells only
	kColgroup                // <colgroup>: <col> only
	kForeign                 // an element of SVG or MathML
	kIntegration             // a foreign element whose content is HTML
)

// elem is one open element.
type elem struct {
	name, end int  // its name is src[name:end], as written
	info      info // 0 for a foreign element
	kind      kind
}

type scanner struct {
	src     []byte
	lenient bool
	stack   []elem // the open elements
	spans   []Span
}

// stacks keeps the scanners' stacks of open elements, which would
// otherwise be allocated on every scan.
var stacks = sync.Pool{New: func() any { s := make([]elem, 0, 32); return &s }}

// scan runs a scanner on src and returns the spans of its includes and
// whether it accepted src.
func scan(src []byte, lenient bool) ([]Span, bool) {
	st := stacks.Get().(*[]elem)
	s := scanner{src: src, lenient: lenient, stack: (*st)[:0]}
	ok := s.run()
	if cap(s.stack) <= 1024 {
		*st = s.stack[:0]
		stacks.Put(st)
	}
	return s.spans, ok
}

// name returns e's name.
func (s *scanner) name(e *elem) []byte { return s.src[e.name:e.end] }

// run scans s.src, recording include spans; it reports whether the whole
// input is within the subset (and, strict, balanced).
func (s *scanner) run() bool {
	src := s.src
	i := 0
	for {
		j := bytes.IndexByte(src[i:], '<')
		if j < 0 {
			return s.text(src[i:]) && (s.lenient || len(s.stack) == 0)
		}
		if !s.text(src[i : i+j]) {
			return false
		}
		var ok bool
		if i, ok = s.markup(i + j); !ok {
			return false
		}
	}
}

func (s *scanner) top() *elem {
	if len(s.stack) == 0 {
		return nil
	}
	return &s.stack[len(s.stack)-1]
}

// text checks text where it stands: a table holds only white space (a
// browser moves anything else out of it).
func (s *scanner) text(b []byte) bool {
	if s.lenient || len(b) == 0 {
		return true
	}
	if t := s.top(); t == nil || t.kind == kFlow || t.kind == kForeign || t.kind == kIntegration {
		return true
	}
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// markup reads what starts with the '<' at i and returns where it ends.
func (s *scanner) markup(i int) (int, bool) {
	src := s.src
	if i+1 >= len(src) {
		return 0, false // a '<' at the end would join what follows
	}
	switch c := src[i+1]; {
	case isAlpha(c):
		return s.startTag(i)
	case c == '/':
		if i+2 < len(src) && isAlpha(src[i+2]) {
			return s.endTag(i)
		}
		return 0, false
	case c == '!':
		if bytes.HasPrefix(src[i:], []byte("<!--")) {
			return comment(src, i)
		}
		if s.lenient && len(src) >= i+9 && bytes.EqualFold(src[i+2:i+9], []byte("doctype")) {
			if k := bytes.IndexByte(src[i:], '>'); k >= 0 {
				return i + k + 1, true
			}
		}
		return 0, false
	case c == '?':
		return 0, false
	default:
		// The tokenizer takes the '<' as text and goes on with c.
		return i + 1, s.text(src[i : i+1])
	}
}

// startTag reads the start tag at i and opens its element.
func (s *scanner) startTag(i int) (int, bool) {
	name, n, ok := tagName(s.src, i+1)
	if !ok {
		return 0, false
	}
	end, selfClosing, ok := attrs(s.src, n)
	if !ok {
		return 0, false
	}
	if string(name) == IncludeElement {
		return s.include(i, end, selfClosing), true
	}
	if !s.lenient && len(s.stack) >= maxDepth {
		return 0, false
	}
	if !s.lenient && bytes.EqualFold(name, []byte(IncludeElement)) {
		return 0, false // not an include as written, but one once rebuilt
	}
	in := lookup(name)
	if t := s.top(); t != nil && t.kind == kForeign {
		// Only the breakout tags leave foreign content; any other, such as
		// a <noscript> in an <svg>, is a foreign element whose content is
		// markup, as a browser (and the tokenizer, tokens.go) reads it.
		if in&fBreakout == 0 && (in&fReject == 0 || s.lenient) {
			s.openForeign(i, name, in, selfClosing)
			return end, true
		}
		if !s.lenient {
			return 0, false
		}
		s.breakOut()
	}
	if !s.lenient && !s.allowed(in) {
		return 0, false
	}
	return s.open(i, end, name, in, selfClosing)
}

// openForeign opens the element named name, whose start tag is at i, in
// foreign content: a foreign element, or an integration point (whose
// content is HTML again); a self-closing one opens nothing.
func (s *scanner) openForeign(i int, name []byte, in info, selfClosing bool) {
	k := kForeign
	if in&fIntegration != 0 {
		k = kIntegration
		in = fSpecial | fScope
	} else {
		in = 0
	}
	if !selfClosing {
		s.push(i+1, name, in, k)
	}
}

// open opens the HTML element named name, of info in, whose start tag is
// at i and ends at end, and returns where its content starts (past its
// raw text, for one holding raw text). A void element opens nothing;
// strict, self-closing syntax on any other is refused.
func (s *scanner) open(i, end int, name []byte, in info, selfClosing bool) (int, bool) {
	switch {
	case in&fForeign != 0:
		if !selfClosing {
			s.push(i+1, name, 0, kForeign)
		}
		return end, true
	case in&fVoid != 0:
		return end, true
	case s.lenient && in&fPlaintext != 0:
		return len(s.src), true
	case selfClosing && !s.lenient:
		return 0, false // a browser ignores the slash and leaves it open
	}
	k, raw := kindOf(in), fRaw
	if s.lenient {
		k, raw = kFlow, fRaw|fRawLenient
	}
	s.push(i+1, name, in, k)
	if in&raw != 0 {
		return s.rawText(name, in, end)
	}
	return end, true
}

// breakOut leaves foreign content, as a browser does for an HTML start tag
// in it.
func (s *scanner) breakOut() {
	for t := s.top(); t != nil && t.kind == kForeign; t = s.top() {
		s.stack = s.stack[:len(s.stack)-1]
	}
}

// maxDepth bounds the elements open at once in HTML the scanner accepts,
// and how far down the open elements it looks for one an end tag closes:
// every start tag may look down the open elements, so an unbounded depth
// would make the scan quadratic.
const maxDepth = 256

// push opens the element whose name starts at i.
func (s *scanner) push(i int, name []byte, in info, k kind) {
	s.stack = append(s.stack, elem{name: i, end: i + len(name), info: in, kind: k})
}

// include records the include element at i whose start tag ends at end,
// with its end tag if that follows at once.
func (s *scanner) include(i, end int, selfClosing bool) int {
	if !selfClosing {
		k := end
		for k < len(s.src) && k-end < maxIncludeSpace && isIncludeSpace(s.src[k]) {
			k++
		}
		if bytes.HasPrefix(s.src[k:], []byte(includeEnd)) {
			end = k + len(includeEnd)
		}
	}
	if s.spans == nil {
		s.spans = make([]Span, 0, bytes.Count(s.src[i:], []byte("<"+IncludeElement)))
	}
	s.spans = append(s.spans, Span{i, end})
	return end
}

// isIncludeSpace is the white space allowed between an include's start
// and end tags.
func isIncludeSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// endTag reads the end tag at i and closes the current element: strict,
// the element must be the current one; lenient, the nearest open one of
// that name, if any.
func (s *scanner) endTag(i int) (int, bool) {
	name, n, ok := tagName(s.src, i+2)
	if !ok {
		return 0, false
	}
	var end int
	if s.lenient {
		if end, _, ok = attrs(s.src, n); !ok {
			return 0, false
		}
		for k := len(s.stack) - 1; k >= 0 && k >= len(s.stack)-maxDepth; k-- {
			if bytes.EqualFold(s.name(&s.stack[k]), name) {
				s.stack = s.stack[:k]
				break
			}
		}
		return end, true
	}
	for n < len(s.src) && isSpace(s.src[n]) {
		n++
	}
	if n >= len(s.src) || s.src[n] != '>' {
		return 0, false
	}
	t := s.top()
	if t == nil || !bytes.EqualFold(s.name(t), name) {
		return 0, false
	}
	s.stack = s.stack[:len(s.stack)-1]
	return n + 1, true
}

// rawText reads the raw text of the element name opened at i (its start
// tag ending at from), and its end tag.
func (s *scanner) rawText(name []byte, in info, from int) (int, bool) {
	src := s.src
	k := from
	for {
		j := bytes.Index(src[k:], []byte("</"))
		if j < 0 {
			return 0, false
		}
		k += j
		e := k + 2 + len(name)
		if e < len(src) && bytes.EqualFold(src[k+2:e], name) && isNameEnd(src[e]) {
			break
		}
		k += 2
	}
	if in&fScript != 0 && bytes.Contains(src[from:k], []byte("<!--")) {
		// The escape states of script data: where it ends is the
		// tokenizer's to say.
		if !s.lenient {
			return 0, false
		}
		end, ok := scriptEnd(src, from)
		if !ok {
			return 0, false
		}
		k = end
	}
	return s.endTag(k)
}
