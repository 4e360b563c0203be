// Package render is the one way a fragment is called and its component
// written out, shared by the composer, the fragment explorer, fragmentd and
// the fragment test kit. Whoever calls it, three rules hold: a panic is an
// error (a *PanicError, with its stack), never a crash; output past its
// cap is an error (an *OversizeError), never a page that grows without
// bound; and with a timeout (Options.Timeout), the caller gets its answer
// by then even from a fragment that ignores its context.
package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/a-h/templ"
)

// Verbatim is a component whose HTML is at hand already (a remote
// fragment's response): Call takes its bytes as they are instead of
// writing it out, checked against the same cap.
type Verbatim interface {
	templ.Component
	VerbatimHTML() []byte
}

// Budget bounds the memory a call's output may hold beyond an allowance
// (the composer's ComposeBytes); Grow reports whether n more bytes fit.
type Budget interface{ Grow(n int64) bool }

// Options are one call's bounds. The zero value is no bound at all.
type Options struct {
	// Name names the fragment in errors.
	Name string
	// Max caps the output, in bytes (0: none).
	Max int
	// Mem, when not nil, bounds the capacity the output's buffer may
	// take; past it the call fails with ErrBusy.
	Mem Budget
	// Buf, when not nil, is the buffer the output is written into (a
	// caller's pooled one); the returned HTML is then its bytes.
	Buf *bytes.Buffer
	// Timeout, when positive, runs the call on a goroutine of its own,
	// under a context that ends after Timeout, and returns at that
	// deadline (an error wrapping context.DeadlineExceeded; or
	// context.Canceled when ctx was cancelled first) even if the fragment
	// has not; the goroutine is left to finish on its own. When
	// zero the call runs on the caller's goroutine, bounded by ctx alone.
	Timeout time.Duration
}

// oversizeCount is how far an oversized output is still counted, so that
// an *OversizeError can say how big it was: the largest cap a site may
// set (composer.MaxFragmentBytes).
const oversizeCount = 64 << 20

var (
	// ErrOversized is wrapped by every *OversizeError.
	ErrOversized = errors.New("render: fragment output over the size limit")
	// ErrBusy is the error of a call whose output would take more memory
	// than Options.Mem allows.
	ErrBusy = errors.New("render: too many bytes being composed")
)

// Call calls fn with p and writes out the component it returns. It returns the
// HTML and the component; a nil component with no error is no HTML and no
// error. A Verbatim component is taken as it is. It never panics: a panic
// of fn or of the component is a *PanicError.
func Call[P any](ctx context.Context, fn func(context.Context, P) (templ.Component, error), p P, o Options) (html []byte, comp templ.Component, err error) {
	if o.Timeout <= 0 {
		return call(ctx, fn, p, o)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	type result struct {
		html []byte
		comp templ.Component
		err  error
	}
	done := make(chan result, 1) // buffered: an abandoned call never blocks
	go func() {
		h, c, err := call(ctx, fn, p, o)
		done <- result{h, c, err}
	}()
	select {
	case r := <-done:
		return r.html, r.comp, r.err
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("render: %s not done within %s: %w", o.Name, o.Timeout, ctx.Err())
	}
}

func call[P any](ctx context.Context, fn func(context.Context, P) (templ.Component, error), p P, o Options) (html []byte, comp templ.Component, err error) {
	defer func() {
		if v := recover(); v != nil {
			html, comp, err = nil, nil, &PanicError{Fragment: o.Name, Value: v, Stack: debug.Stack()}
		}
	}()
	comp, err = fn(ctx, p)
	if err != nil || comp == nil {
		return nil, nil, err
	}
	if v, ok := comp.(Verbatim); ok {
		h := v.VerbatimHTML()
		if o.Max > 0 && len(h) > o.Max {
			return nil, nil, &OversizeError{Fragment: o.Name, Size: len(h), Max: o.Max}
		}
		if o.Mem != nil && !o.Mem.Grow(int64(cap(h))) {
			return nil, nil, ErrBusy
		}
		return h, comp, nil
	}
	w := &Capped{Buf: o.Buf, Max: o.Max, Mem: o.Mem}
	if w.Buf == nil {
		w.Buf = &w.own
	}
	err = comp.Render(ctx, w)
	if errors.Is(err, ErrBusy) {
		return nil, nil, ErrBusy
	}
	if w.over > 0 {
		return nil, nil, &OversizeError{Fragment: o.Name, Size: w.over, AtLeast: errors.Is(err, ErrOversized), Max: o.Max}
	}
	if err != nil {
		return nil, nil, err
	}
	return w.Buf.Bytes(), comp, nil
}

// Capped is a buffer that keeps at most Max bytes (0: no cap). Past Max
// it keeps nothing more and counts what is written up to oversizeCount,
// then fails with ErrOversized; with Mem, growing its capacity past what
// Mem allows fails with ErrBusy.
type Capped struct {
	Buf *bytes.Buffer
	Max int
	Mem Budget
	// over counts what was written in all once it is past Max.
	over int
	own  bytes.Buffer // Buf, unless the caller brought one
}

func (w *Capped) Write(p []byte) (int, error) {
	n := w.Buf.Len() + len(p)
	if w.over > 0 || (w.Max > 0 && n > w.Max) {
		if w.over == 0 {
			w.over = w.Buf.Len()
			w.Buf.Reset()
		}
		if w.over+len(p) > max(oversizeCount, w.Max) {
			return 0, ErrOversized
		}
		w.over += len(p)
		return len(p), nil
	}
	if n > w.Buf.Cap() && w.Mem != nil && !w.Mem.Grow(int64(max(2*w.Buf.Cap(), n))) {
		// bytes.Buffer doubles its capacity as it grows: the call holds
		// its capacity, not its length.
		return 0, ErrBusy
	}
	return w.Buf.Write(p)
}

// PanicError is the error of a fragment call that panicked.
type PanicError struct {
	Fragment string
	Value    any
	Stack    []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("render: fragment %q panicked: %v", e.Fragment, e.Value)
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
	return fmt.Sprintf("render: fragment %q wrote %d bytes%s, over its max_bytes of %d", e.Fragment, e.Size, more, e.Max)
}

// Unwrap makes errors.Is(err, ErrOversized) hold.
func (e *OversizeError) Unwrap() error { return ErrOversized }
