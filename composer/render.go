package composer

import (
	"context"
	"errors"
	"fmt"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
	"github.com/broadsheet/broadsheet/composer/render"
)

// PanicError is the error of a fragment call that panicked.
type PanicError = render.PanicError

// OversizeError is the error of a fragment call whose output is over its
// cap (Settings.MaxBytes, else Limits.MaxFragmentBytes).
type OversizeError = render.OversizeError

// VerbatimHTML returns the HTML as it is: the render package takes a Raw's
// bytes without writing it out (see render.Verbatim).
func (r *Raw) VerbatimHTML() []byte { return r.HTML }

// render calls the fragment through package render (a panic is a
// *PanicError, output over max or over what mem allows is refused), and
// normalizes its HTML (see normalize.go), which it returns with the spans
// of its include tags.
func (c *Composer) render(ctx context.Context, f *Fragment, p Params, max int, mem *callBytes) (html []byte, spans []htmlnorm.Span, raw *Raw, err error) {
	if max <= 0 {
		max = DefaultLimits.MaxFragmentBytes
	}
	o := render.Options{Name: f.Spec.Name, Max: max}
	if mem != nil {
		o.Mem = mem
	}
	html, comp, err := render.Call(ctx, f.Spec.Render, p, o)
	if err == nil {
		raw, _ = comp.(*Raw)
		// Normalizing adds the end tags a value left out: a few bytes,
		// which must not take it over the limit either.
		if html, spans, err = c.normalize(html); err == nil && len(html) > max {
			html, spans, raw, err = nil, nil, nil, &OversizeError{Fragment: f.Spec.Name, Size: len(html), Max: max}
		}
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		c.stats.Panics.Add(1)
		c.log.Error("fragment panicked", "fragment", f.Spec.Name, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	}
	var oe *OversizeError
	if errors.As(err, &oe) {
		c.stats.Oversized.Add(1)
		c.log.Warn("composer: fragment output over its max_bytes: not served",
			"fragment", f.Spec.Name, "bytes", oe.Size, "at_least", oe.AtLeast, "max_bytes", oe.Max)
	}
	return html, spans, raw, err
}
