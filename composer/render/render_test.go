package render

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// text is a component writing s in chunks of at most 1 KiB.
func text(s string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		for len(s) > 0 {
			n := min(len(s), 1024)
			if _, err := io.WriteString(w, s[:n]); err != nil {
				return err
			}
			s = s[n:]
		}
		return nil
	})
}

// verbatim is a component with its HTML at hand.
type verbatim struct{ html []byte }

func (v *verbatim) Render(_ context.Context, w io.Writer) error {
	_, err := w.Write(v.html)
	return err
}
func (v *verbatim) VerbatimHTML() []byte { return v.html }

func returns(c templ.Component, err error) func(context.Context, string) (templ.Component, error) {
	return func(context.Context, string) (templ.Component, error) { return c, err }
}

// budget allows n bytes.
type budget struct{ n int64 }

func (b *budget) Grow(n int64) bool { return n <= b.n }

func TestCall(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		fn   func(context.Context, string) (templ.Component, error)
		o    Options
		html string
		// check judges the error (nil: none expected).
		check func(error) bool
	}{
		{"written out", returns(text("<p>hi</p>"), nil), Options{Max: 100}, "<p>hi</p>", nil},
		{"no cap", returns(text(strings.Repeat("x", 5000)), nil), Options{}, strings.Repeat("x", 5000), nil},
		{"nil component", returns(nil, nil), Options{}, "", nil},
		{"its error", returns(nil, boom), Options{}, "", func(err error) bool { return errors.Is(err, boom) }},
		{"panic in the call", func(context.Context, string) (templ.Component, error) { panic("oops") }, Options{Name: "f"}, "",
			func(err error) bool {
				var pe *PanicError
				return errors.As(err, &pe) && pe.Value == "oops" && pe.Fragment == "f" && len(pe.Stack) > 0
			}},
		{"panic in the component", returns(templ.ComponentFunc(func(context.Context, io.Writer) error { panic("late") }), nil), Options{}, "",
			func(err error) bool { var pe *PanicError; return errors.As(err, &pe) && pe.Value == "late" }},
		{"over the cap, counted", returns(text(strings.Repeat("x", 3000)), nil), Options{Max: 1000}, "",
			func(err error) bool {
				var oe *OversizeError
				return errors.As(err, &oe) && errors.Is(err, ErrOversized) && oe.Size == 3000 && !oe.AtLeast && oe.Max == 1000
			}},
		{"verbatim", returns(&verbatim{[]byte("<b>v</b>")}, nil), Options{Max: 8}, "<b>v</b>", nil},
		{"verbatim over the cap", returns(&verbatim{[]byte("<b>v</b>")}, nil), Options{Max: 7}, "",
			func(err error) bool { var oe *OversizeError; return errors.As(err, &oe) && oe.Size == 8 }},
		{"over the memory budget", returns(text(strings.Repeat("x", 5000)), nil), Options{Mem: &budget{1024}}, "",
			func(err error) bool { return errors.Is(err, ErrBusy) }},
		{"verbatim over the memory budget", returns(&verbatim{make([]byte, 2048)}, nil), Options{Mem: &budget{1024}}, "",
			func(err error) bool { return errors.Is(err, ErrBusy) }},
		{"with a timeout, in time", returns(text("<p>ok</p>"), nil), Options{Timeout: time.Minute}, "<p>ok</p>", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			html, _, err := Call(t.Context(), tc.fn, "p", tc.o)
			if tc.check == nil && err != nil || tc.check != nil && !tc.check(err) {
				t.Fatalf("error %v", err)
			}
			if string(html) != tc.html {
				t.Fatalf("html %q, want %q", html, tc.html)
			}
		})
	}
}

// TestCallTimeoutIgnoredContext: with a timeout, Call returns at the
// deadline even though the fragment ignores its context.
func TestCallTimeoutIgnoredContext(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := func(context.Context, string) (templ.Component, error) {
		<-release
		return nil, nil
	}
	_, _, err := Call(t.Context(), hang, "p", Options{Name: "slow", Timeout: time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := Call(ctx, hang, "p", Options{Timeout: time.Minute}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: error %v, want context.Canceled", err)
	}
}

// TestCallIntoCallersBuffer: the output goes into the caller's buffer.
func TestCallIntoCallersBuffer(t *testing.T) {
	var buf bytes.Buffer
	html, _, err := Call(t.Context(), returns(text("<i>x</i>"), nil), "p", Options{Buf: &buf})
	if err != nil || buf.String() != "<i>x</i>" || &html[0] != &buf.Bytes()[0] {
		t.Fatalf("html %q, buffer %q, err %v", html, buf.String(), err)
	}
}

// BenchmarkCall is a small fragment written out, on the caller's goroutine.
func BenchmarkCall(b *testing.B) {
	fn := returns(text(`<li class="score"><span class="home">Team m0001</span> <b>2–1</b></li>`), nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Call(context.Background(), fn, "p", Options{Max: 1 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}
