// Package include is the include syntax: how a fragment's HTML asks for
// another fragment, and the scanner that finds and parses those asks.
//
//	<bs-include fragment="score" match="m0042"></bs-include>
//
// Attribute values are HTML-escaped and double-quoted; every attribute but
// "fragment" is a param. A self-closing form (<bs-include … />) is
// accepted. Layouts place page includes with the page-index form
// (<bs-include page-index="3"></bs-include>), which the composer accepts
// only in layout output.
//
// Tags are recognized only in markup (htmlnorm locates them): not in
// comments, raw text (<script>, <style>, <textarea>, <title>, <noscript>)
// or attribute values. This package parses what htmlnorm located; it knows
// nothing of fragments or sites, which the composer resolves the tags
// against.
//
// Parsing a scoreboard's 2,000 tags costs a handful of allocations: the
// tags and their attributes share two arrays, and attribute names are
// interned (AddNames) rather than copied into a string per attribute.
package include

import (
	"bytes"
	"errors"
	"html"
	"slices"
	"strconv"
	"strings"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
)

const (
	openTag   = "<" + htmlnorm.IncludeElement
	closeTag  = "</" + htmlnorm.IncludeElement + ">"
	maxTagLen = 4096
	// MaxAttrs is the most attributes a tag may have.
	MaxAttrs = 32
)

// ErrMalformed is the error of a piece whose tag does not follow the
// syntax. Its text names the composer, whose API hands it out.
var ErrMalformed = errors.New("composer: malformed include tag")

// Tag is one parsed include tag.
type Tag struct {
	Attrs []Attr // in document order, values unescaped
}

// Attr is one attribute of an include tag.
type Attr struct{ Name, Value string }

// Get returns the value of the named attribute.
func (t *Tag) Get(name string) (string, bool) {
	for _, a := range t.Attrs {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// Piece is a run of static HTML followed, unless it is the last piece, by
// one include tag (Tag nil and Err set when the tag was malformed).
type Piece struct {
	Text []byte
	Tag  *Tag
	Err  error
	// HasTag reports whether an include (well-formed or not) ends the piece.
	HasTag bool
}

// AppendTag appends to b the include tag for fragment name with params
// kv, as name/value pairs (an odd last element is ignored), escaping the
// name, the params' names and their values.
func AppendTag(b []byte, name string, kv ...string) []byte {
	n := len(`<bs-include fragment=""></bs-include>`) + len(name)
	for _, s := range kv {
		n += len(s) + 2 // and its = and quotes, with the space: 4 a pair
	}
	b = slices.Grow(b, n) // one allocation for a tag that needs no escaping
	b = append(b, `<bs-include fragment="`...)
	b = append(b, html.EscapeString(name)...)
	b = append(b, '"')
	for i := 0; i+1 < len(kv); i += 2 {
		b = append(b, ' ')
		b = append(b, html.EscapeString(kv[i])...)
		b = append(b, `="`...)
		b = append(b, html.EscapeString(kv[i+1])...)
		b = append(b, '"')
	}
	return append(b, "></bs-include>"...)
}

// AppendPageIndex appends to b the tag that places a page's include i in
// a layout.
func AppendPageIndex(b []byte, i int) []byte {
	b = append(b, `<bs-include page-index="`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, `"></bs-include>`...)
}

// MayInclude reports whether html could hold an include tag: false means
// certainly none, so it is a leaf and needs no parse. It is the cheap test
// every parse starts with.
func MayInclude(html []byte) bool {
	return bytes.Contains(html, []byte(openTag))
}

// Split splits src, HTML that is not normalized (a layout's output, an
// entry read from a Store), into static text and include tags. It never
// fails: a malformed tag becomes a piece with Err set. Text slices alias
// src.
func Split(src []byte) []Piece {
	if !MayInclude(src) {
		return []Piece{{Text: src}}
	}
	return SplitAt(src, htmlnorm.Includes(src))
}

// SplitAt is Split for HTML whose include elements spans already locate (a
// fresh render, found as it was normalized).
func SplitAt(src []byte, spans []htmlnorm.Span) []Piece {
	out := make([]Piece, 0, len(spans)+1)
	// One allocation for every tag and one for all their attributes: a
	// scoreboard's 2,000 includes cost a handful of allocations, not
	// thousands.
	tags := make([]Tag, len(spans))
	attrs := make([]Attr, 0, 2*len(spans))
	var scratch Tag
	text := 0 // start of the current text run
	for _, sp := range spans {
		body := src[sp.Start+len(openTag) : sp.End]
		consumed, err := parseTag(body, &scratch)
		if err == nil && consumed != len(body) {
			err = ErrMalformed
		}
		p := Piece{Text: src[text:sp.Start], Err: err, HasTag: true}
		if err == nil {
			t := &tags[len(out)]
			start := len(attrs)
			attrs = append(attrs, scratch.Attrs...)
			t.Attrs = attrs[start:len(attrs):len(attrs)]
			p.Tag = t
		}
		out = append(out, p)
		text = sp.End
	}
	return append(out, Piece{Text: src[text:]})
}

// parseTag parses what an include element's span holds after
// "<bs-include" — its attributes and the closing "></bs-include>" or "/>"
// — into t (whose Attrs it reuses). It returns the bytes consumed: all of
// b for a well-formed tag.
//
// It is one scanner loop over the tag's bytes; split, its state would
// have to travel between the pieces.
func parseTag(b []byte, t *Tag) (int, error) {
	limit := len(b)
	if limit > maxTagLen {
		limit = maxTagLen
	}
	t.Attrs = t.Attrs[:0]
	i := 0
	bad := func() (int, error) { return 0, ErrMalformed }
	for {
		for i < limit && isSpace(b[i]) {
			i++
		}
		if i >= limit {
			return bad()
		}
		switch {
		case b[i] == '/' && i+1 < limit && b[i+1] == '>':
			return i + 2, nil
		case b[i] == '>':
			i++
			j := i
			for j < len(b) && isSpace(b[j]) && j-i < 64 {
				j++
			}
			if !bytes.HasPrefix(b[j:], []byte(closeTag)) {
				return bad()
			}
			return j + len(closeTag), nil
		}
		start := i
		for i < limit && isAttrChar(b[i]) {
			i++
		}
		if i == start || i+1 >= limit || b[i] != '=' || b[i+1] != '"' {
			return bad()
		}
		name := intern(b[start:i])
		i += 2
		vs := i
		for i < limit && b[i] != '"' {
			i++
		}
		if i >= limit {
			return bad()
		}
		if len(t.Attrs) >= MaxAttrs {
			return bad()
		}
		if _, dup := t.Get(name); dup {
			return bad()
		}
		v := string(b[vs:i])
		if strings.IndexByte(v, '&') >= 0 {
			v = html.UnescapeString(v)
		}
		t.Attrs = append(t.Attrs, Attr{name, v})
		i++
		if i < limit && !isSpace(b[i]) && b[i] != '>' && b[i] != '/' {
			return bad()
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isAttrChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
