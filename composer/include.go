package composer

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
)

// The include syntax, in any fragment's HTML (local or remote):
//
//	<bs-include fragment="score" match="m0042"></bs-include>
//
// Attribute values are HTML-escaped and double-quoted; every attribute but
// "fragment" is a param. A self-closing form (<bs-include … />) is accepted.
// Layouts place page includes with the page-index form, which is accepted
// only in layout output.
//
// Tags are recognized only in markup (see htmlnorm): not in comments, raw
// text (<script>, <style>, <textarea>, <title>, <noscript>) or attribute
// values.
const (
	includeOpen  = "<" + htmlnorm.IncludeElement
	includeClose = "</" + htmlnorm.IncludeElement + ">"
	maxTagLen    = 4096
	maxTagAttrs  = 32
)

var (
	errMalformed = errors.New("composer: malformed include tag")
	errNoName    = errors.New("composer: include tag without fragment")
)

// Include returns a component that renders an include of fragment name with
// the given params, as name/value pairs. Fragments call it to nest others:
//
//	@composer.Include("score", "match", m.ID)
func Include(name string, kv ...string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, IncludeTag(name, kv...))
		return err
	})
}

// IncludeTag returns the include tag for fragment name with params kv.
func IncludeTag(name string, kv ...string) string {
	var b bytes.Buffer
	b.WriteString(`<bs-include fragment="`)
	b.WriteString(html.EscapeString(name))
	b.WriteByte('"')
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteByte(' ')
		b.WriteString(html.EscapeString(kv[i]))
		b.WriteString(`="`)
		b.WriteString(html.EscapeString(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteString("></bs-include>")
	return b.String()
}

func slotComponent(idx []int) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		var b []byte
		for _, i := range idx {
			b = append(b, `<bs-include page-index="`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `"></bs-include>`...)
		}
		_, err := w.Write(b)
		return err
	})
}

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

// MayInclude reports whether html could hold an include tag: false means
// certainly none, so it is a leaf and needs no parse. It is the cheap test
// every parse starts with; Stores use it to record leaves (Entry.Leaf).
func MayInclude(html []byte) bool {
	return bytes.Contains(html, []byte(includeOpen))
}

// Piece is a run of static HTML followed, unless it is the last piece, by one
// include tag (Tag nil and Err set when the tag was malformed).
type Piece struct {
	Text []byte
	Tag  *Tag
	Err  error
	// HasTag reports whether an include (well-formed or not) ends the piece.
	HasTag bool
}

// SplitIncludes splits src, HTML that is not normalized (a layout's
// output), into static text and include tags. It never fails: a malformed
// tag becomes a piece with Err set. Text slices alias src.
func SplitIncludes(src []byte) []Piece {
	if !MayInclude(src) {
		return []Piece{{Text: src}}
	}
	return splitAt(src, htmlnorm.Includes(src))
}

// splitAt splits src at the include elements that spans locate.
func splitAt(src []byte, spans []htmlnorm.Span) []Piece {
	out := make([]Piece, 0, len(spans)+1)
	// One allocation for every tag and one for all their attributes: a
	// scoreboard's 2,000 includes cost a handful of allocations, not
	// thousands.
	tags := make([]Tag, len(spans))
	attrs := make([]Attr, 0, 2*len(spans))
	var scratch Tag
	text := 0 // start of the current text run
	for _, sp := range spans {
		body := src[sp.Start+len(includeOpen) : sp.End]
		consumed, err := parseTag(body, &scratch)
		if err == nil && consumed != len(body) {
			err = errMalformed
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
	bad := func() (int, error) { return 0, errMalformed }
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
			if !bytes.HasPrefix(b[j:], []byte(includeClose)) {
				return bad()
			}
			return j + len(includeClose), nil
		}
		start := i
		for i < limit && isAttrChar(b[i]) {
			i++
		}
		if i == start || i+1 >= limit || b[i] != '=' || b[i+1] != '"' {
			return bad()
		}
		name := internName(b[start:i])
		i += 2
		vs := i
		for i < limit && b[i] != '"' {
			i++
		}
		if i >= limit {
			return bad()
		}
		if len(t.Attrs) >= maxTagAttrs {
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

// names interns attribute names: every declared param name (added by
// ValidateSpec) and the syntax's own, so that parsing a tag does not
// allocate a string per attribute name.
var (
	namesMu sync.Mutex
	names   atomic.Pointer[map[string]string]
)

func init() { addNames("fragment", "page-index") }

// addNames adds to the interned names (copy on write: readers never lock).
func addNames(list ...string) {
	namesMu.Lock()
	defer namesMu.Unlock()
	m := map[string]string{}
	if old := names.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	for _, n := range list {
		m[n] = n
	}
	names.Store(&m)
}

func internName(b []byte) string {
	if s, ok := (*names.Load())[string(b)]; ok {
		return s
	}
	return string(b)
}
