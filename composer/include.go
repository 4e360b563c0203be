package composer

import (
	"context"
	"errors"
	"io"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer/internal/include"
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
// values. The scanner is composer/internal/include.

var (
	errMalformed = include.ErrMalformed
	errNoName    = errors.New("composer: include tag without fragment")
)

// Include returns a component that renders an include of fragment name with
// the given params, as name/value pairs. Fragments call it to nest others:
//
//	@composer.Include("score", "match", m.ID)
func Include(name string, kv ...string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := w.Write(include.AppendTag(nil, name, kv...))
		return err
	})
}

// IncludeTag returns the include tag for fragment name with params kv.
func IncludeTag(name string, kv ...string) string {
	return string(include.AppendTag(nil, name, kv...))
}

func slotComponent(idx []int) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		var b []byte
		for _, i := range idx {
			b = include.AppendPageIndex(b, i)
		}
		_, err := w.Write(b)
		return err
	})
}

// Tag is one parsed include tag: its attributes in document order, values
// unescaped. Its method Get returns an attribute's value by name.
type Tag = include.Tag

// Attr is one attribute of an include tag: Name and Value.
type Attr = include.Attr

// Piece is a run of static HTML followed, unless it is the last piece, by
// one include tag: fields Text, Tag, Err (Tag nil and Err set when the tag
// was malformed) and HasTag (whether an include, well-formed or not, ends
// the piece).
type Piece = include.Piece

// MayInclude reports whether html could hold an include tag: false means
// certainly none, so it is a leaf and needs no parse. It is the cheap test
// every parse starts with; Stores use it to record leaves (Entry.Leaf).
func MayInclude(html []byte) bool { return include.MayInclude(html) }

// SplitIncludes splits src, HTML that is not normalized (a layout's
// output), into static text and include tags. It never fails: a malformed
// tag becomes a piece with Err set. Text slices alias src.
func SplitIncludes(src []byte) []Piece { return include.Split(src) }
