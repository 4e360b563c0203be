// Package fragmenttest is the fragment author's test kit: it renders one
// fragment the way the composer would (validated params, the fragment's own
// timeout, panics recovered), compares HTML with golden files, and checks
// every registered fragment against its declared example params.
//
// It does not import package fragments, so that the fragments' own tests
// (package fragments) can import it; they pass the Specs in:
//
//	func TestEveryFragment(t *testing.T) { fragmenttest.CheckAll(t, All()) }
//
//	func TestTraffic(t *testing.T) {
//		r := fragmenttest.Render(t, specNamed(t, "traffic"), map[string]string{"city": "london"})
//		if r.Err != nil {
//			t.Fatal(r.Err)
//		}
//		fragmenttest.Golden(t, "traffic", r.HTML)
//	}
//
// The package registers the -update flag (rewrite golden files) in every test
// binary that imports it; such test packages must not define their own.
package fragmenttest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/render"
)

var update = flag.Bool("update", false, "fragmenttest: rewrite the golden files under testdata/")

// Update reports whether the test binary was run with -update.
func Update() bool { return *update }

// Result is what one render produced.
type Result struct {
	// HTML is the fragment's output; empty unless Outcome is OutcomeMiss.
	HTML string
	// Outcome is OutcomeMiss on success, OutcomeError when the fragment
	// returned an error or panicked, OutcomeTimeout when it was not done by
	// its deadline, and OutcomePlaceholder when its params were refused (only
	// with AllowParamError).
	Outcome composer.Outcome
	// Err says why the render failed; a panic's error holds its stack.
	Err error
	// Duration is how long the render took, or the deadline on a timeout.
	Duration time.Duration
}

// ErrPanic is wrapped by Result.Err when the fragment panicked.
var ErrPanic = errors.New("fragmenttest: fragment panicked")

// Option changes how Render runs.
type Option func(*options)

type options struct {
	timeout       time.Duration
	allowParamErr bool
	ctx           context.Context
}

// WithTimeout renders under d instead of the Spec's default timeout.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// AllowParamError makes a param refused by validation a Result (Outcome
// OutcomePlaceholder, Err the *composer.ParamError) instead of a test failure.
func AllowParamError() Option { return func(o *options) { o.allowParamErr = true } }

// WithContext renders under ctx (the deadline still applies), e.g. to test
// that a fragment honours a cancelled context.
func WithContext(ctx context.Context) Option { return func(o *options) { o.ctx = ctx } }

// Render validates params against spec with composer.NewParams, then calls
// spec.Render and writes the component, both under a deadline of the Spec's
// default timeout (see WithTimeout), and returns what happened. It fails the
// test only when the params are refused (see AllowParamError): a fragment's
// error, panic or timeout is reported in the Result for the caller to judge.
//
// The fragment runs in its own goroutine and Render stops waiting at the
// deadline, so a fragment that ignores its context cannot hang the test; that
// goroutine is abandoned, as the composer abandons it.
func Render(t testing.TB, spec *composer.Spec, params map[string]string, opts ...Option) Result {
	t.Helper()
	o := options{timeout: spec.Defaults.Timeout, ctx: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	p, err := composer.NewParams(spec, params)
	if err != nil {
		if !o.allowParamErr {
			t.Fatalf("fragmenttest: %s: params %v: %v", spec.Name, params, err)
		}
		return Result{Outcome: composer.OutcomePlaceholder, Err: err}
	}
	if o.timeout <= 0 {
		t.Fatalf("fragmenttest: %s: no timeout (the Spec declares none and no WithTimeout was given)", spec.Name)
	}
	return run(o.ctx, spec, p, o.timeout)
}

// run renders through package render, the composer's own render path,
// on a goroutine of its own under timeout.
func run(parent context.Context, spec *composer.Spec, p composer.Params, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()

	start := time.Now()
	html, comp, err := render.Call(ctx, spec.Render, p, render.Options{Name: spec.Name, Timeout: timeout})
	r := Result{Duration: time.Since(start)}
	var pe *render.PanicError
	switch {
	case errors.As(err, &pe):
		r.Outcome, r.Err = composer.OutcomeError, fmt.Errorf("%w: %v\n%s", ErrPanic, pe.Value, pe.Stack)
	case err == nil && comp == nil:
		r.Outcome, r.Err = composer.OutcomeError, errors.New("fragmenttest: Render returned a nil component and no error")
	case err == nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		// Done, but only after its deadline: the composer would not have
		// waited for it.
		r.Outcome, r.Err = composer.OutcomeTimeout, fmt.Errorf("fragmenttest: %s finished after its %v deadline", spec.Name, timeout)
	case err == nil:
		r.Outcome, r.HTML = composer.OutcomeMiss, string(html)
	case errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.Outcome, r.Err = composer.OutcomeTimeout, fmt.Errorf("fragmenttest: %w", err)
		if r.Duration > timeout {
			r.Duration = timeout
		}
	default:
		r.Outcome, r.Err = composer.OutcomeError, err
	}
	return r
}

// Golden compares html with testdata/NAME.golden.html (relative to the test's
// package directory) and fails the test on a difference. With -update it
// writes the file instead. A missing golden file is a failure, not a pass, so
// that CI never accepts output nobody looked at.
func Golden(t testing.TB, name, html string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("fragmenttest: wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("fragmenttest: %s does not exist: run the test with -update to write it, then read it", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != html {
		t.Errorf("fragmenttest: HTML differs from %s (run with -update to accept it):\n%s", path, diff(string(want), html))
	}
}

// diff shows the first differing line of want and got, with some context.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %q\n  got:  %q", i+1, w, g)
		}
	}
	return "(same lines, different line endings)"
}

// CheckAll is the every-fragment check: for each Spec, in a subtest named
// after it, it renders the Spec's Example params under the Spec's default
// timeout and fails on refused params, an error, a panic, a timeout, empty
// HTML, a malformed include tag, or an include of a fragment missing from
// Spec.Includes. It also checks that each name in Spec.Includes is among
// specs. Subtests run in parallel.
//
// A timeout is confirmed by a second run before it fails the check, so that a
// scheduling hiccup on a loaded CI machine (tests run with -race) does not
// fail a fragment that is within its timeout; a fragment that hangs or is
// steadily slow fails both runs.
func CheckAll(t *testing.T, specs []*composer.Spec) {
	t.Helper()
	if len(specs) == 0 {
		t.Fatal("fragmenttest: CheckAll: no fragments")
	}
	names := make(map[string]bool, len(specs))
	for _, s := range specs {
		names[s.Name] = true
	}
	for _, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			Check(t, s, names)
		})
	}
}

// Check runs the every-fragment check on one Spec; known, when not nil, is
// the set of fragment names its declared Includes must belong to.
func Check(t testing.TB, s *composer.Spec, known map[string]bool) {
	t.Helper()
	where := ""
	if s.Source != "" {
		where = " (" + filepath.Base(s.Source) + ")"
	}
	for _, inc := range s.Includes {
		if known != nil && !known[inc] {
			t.Errorf("%s%s: declares Includes %q, which is not a registered fragment", s.Name, where, inc)
		}
	}
	p, err := composer.NewParams(s, s.Example)
	if err != nil {
		t.Fatalf("%s%s: its Example params are refused: %v (set Spec.Example to values the explorer and this check can use)", s.Name, where, err)
	}
	r := run(context.Background(), s, p, s.Defaults.Timeout)
	if r.Outcome == composer.OutcomeTimeout {
		r = run(context.Background(), s, p, s.Defaults.Timeout)
	}
	switch {
	case r.Outcome == composer.OutcomeTimeout:
		t.Fatalf("%s%s: with its Example params %v it exceeds its %v timeout, twice: %v", s.Name, where, s.Example, s.Defaults.Timeout, r.Err)
	case errors.Is(r.Err, ErrPanic):
		t.Fatalf("%s%s: panics with its Example params %v: %v", s.Name, where, s.Example, r.Err)
	case r.Err != nil:
		t.Fatalf("%s%s: fails with its Example params %v: %v", s.Name, where, s.Example, r.Err)
	case strings.TrimSpace(r.HTML) == "":
		t.Fatalf("%s%s: renders empty HTML with its Example params %v", s.Name, where, s.Example)
	}
	for _, piece := range composer.SplitIncludes([]byte(r.HTML)) {
		if !piece.HasTag {
			continue
		}
		if piece.Err != nil {
			t.Errorf("%s%s: malformed include tag: %v", s.Name, where, piece.Err)
			continue
		}
		name, _ := piece.Tag.Get("fragment")
		if !slices.Contains(s.Includes, name) {
			t.Errorf("%s%s: includes %q, which is not in its declared Includes %v", s.Name, where, name, s.Includes)
		}
	}
}
