package composer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
)

// render calls the fragment, turning a panic into a *PanicError, and
// normalizes its HTML (see normalize.go), which it returns with the spans
// of its include tags. Its output is bounded by max and by mem.
func (c *Composer) render(ctx context.Context, f *Fragment, p Params, max int, mem *callBytes) (html []byte, spans []htmlnorm.Span, raw *Raw, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.stats.Panics.Add(1)
			pe := &PanicError{Fragment: f.Spec.Name, Value: v, Stack: debug.Stack()}
			c.log.Error("fragment panicked", "fragment", f.Spec.Name, "panic", fmt.Sprint(v), "stack", string(pe.Stack))
			html, spans, raw, err = nil, nil, nil, pe
		}
	}()
	if max <= 0 {
		max = DefaultLimits.MaxFragmentBytes
	}
	html, raw, err = renderFragment(ctx, f.Spec, p, max, mem)
	if err == nil {
		// Normalizing adds the end tags a value left out: a few bytes,
		// which must not take it over the limit either.
		if html, spans, err = c.normalize(html); err == nil && len(html) > max {
			html, spans, raw, err = nil, nil, nil, &OversizeError{Fragment: f.Spec.Name, Size: len(html), Max: max}
		}
	}
	var oe *OversizeError
	if errors.As(err, &oe) {
		c.stats.Oversized.Add(1)
		c.log.Warn("composer: fragment output over its max_bytes: not served",
			"fragment", f.Spec.Name, "bytes", oe.Size, "at_least", oe.AtLeast, "max_bytes", oe.Max)
	}
	return html, spans, raw, err
}

// renderFragment calls the fragment and renders its component, refusing
// output over max bytes (with an *OversizeError), or over what mem allows
// (nil: no bound).
func renderFragment(ctx context.Context, s *Spec, p Params, max int, mem *callBytes) ([]byte, *Raw, error) {
	comp, err := s.Render(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	if comp == nil {
		return nil, nil, nil
	}
	if raw, ok := comp.(*Raw); ok {
		if len(raw.HTML) > max {
			return nil, nil, &OversizeError{Fragment: s.Name, Size: len(raw.HTML), Max: max}
		}
		if mem != nil && !mem.grow(int64(cap(raw.HTML))) {
			return nil, nil, errBusy
		}
		return raw.HTML, raw, nil
	}
	w := &limitedBuffer{max: max, mem: mem}
	err = comp.Render(ctx, w)
	if errors.Is(err, errBusy) {
		return nil, nil, errBusy
	}
	if w.over > 0 {
		return nil, nil, &OversizeError{Fragment: s.Name, Size: w.over, AtLeast: errors.Is(err, errOversized), Max: max}
	}
	if err != nil {
		return nil, nil, err
	}
	return w.buf.Bytes(), nil, nil
}

// PanicError is the error of a fragment call that panicked.
type PanicError struct {
	Fragment string
	Value    any
	Stack    []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("composer: fragment %q panicked: %v", e.Fragment, e.Value)
}

// OversizeError is the error of a fragment call whose output is over its
// cap (Settings.MaxBytes, else Limits.MaxFragmentBytes).
type OversizeError struct {
	Fragment string
	// Size is how many bytes the fragment wrote; when AtLeast, it wrote
	// more, and counting stopped there.
	Size    int
	AtLeast bool
	Max     int
}

func (e *OversizeError) Error() string {
	more := ""
	if e.AtLeast {
		more = " or more"
	}
	return fmt.Sprintf("composer: fragment %q wrote %d bytes%s, over its max_bytes of %d", e.Fragment, e.Size, more, e.Max)
}

// Unwrap makes errors.Is(err, errOversized) hold.
func (e *OversizeError) Unwrap() error { return errOversized }
