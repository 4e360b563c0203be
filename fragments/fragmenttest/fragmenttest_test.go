package fragmenttest

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

// spec returns a valid Spec rendering with f, with one optional param.
func spec(name string, f composer.RenderFunc, includes ...string) *composer.Spec {
	s := &composer.Spec{
		Name:     name,
		Render:   f,
		Params:   []composer.ParamSpec{{Name: "city", Pattern: `[a-z]{1,10}`, Default: "paris"}},
		Defaults: composer.Settings{Timeout: 50 * time.Millisecond},
		Example:  map[string]string{"city": "london"},
		Includes: includes,
	}
	if err := composer.ValidateSpec(s); err != nil {
		panic(err)
	}
	return s
}

func html(s string) composer.RenderFunc {
	return func(ctx context.Context, p composer.Params) (templ.Component, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return templ.Raw(strings.ReplaceAll(s, "CITY", p.Get("city"))), nil
	}
}

// The specs of the every-fragment check's cases, by name; each but "good"
// must fail the check.
var cases = map[string]*composer.Spec{
	"good": spec("good", html(`<p>CITY</p><bs-include fragment="good" city="x"></bs-include>`), "good"),
	"panics": spec("panics", func(context.Context, composer.Params) (templ.Component, error) {
		panic("boom")
	}),
	"ignores-context": spec("ignores-context", func(context.Context, composer.Params) (templ.Component, error) {
		time.Sleep(time.Hour)
		return nil, nil
	}),
	"slow": spec("slow", func(ctx context.Context, _ composer.Params) (templ.Component, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}),
	"panics-writing": spec("panics-writing", func(context.Context, composer.Params) (templ.Component, error) {
		return templ.ComponentFunc(func(context.Context, io.Writer) error { panic("boom") }), nil
	}),
	"fails":           spec("fails", func(context.Context, composer.Params) (templ.Component, error) { return nil, errors.New("no feed") }),
	"empty":           spec("empty", html("  \n")),
	"undeclared":      spec("undeclared", html(`<bs-include fragment="score" match="m1"></bs-include>`)),
	"unknown-include": spec("unknown-include", html(`<p>CITY</p>`), "nowhere"),
}

func TestRender(t *testing.T) {
	for _, c := range []struct {
		spec    string
		outcome composer.Outcome
		html    string
		panic   bool
	}{
		{"good", composer.OutcomeMiss, `<p>london</p><bs-include fragment="good" city="x"></bs-include>`, false},
		{"panics", composer.OutcomeError, "", true},
		{"panics-writing", composer.OutcomeError, "", true},
		{"fails", composer.OutcomeError, "", false},
		{"ignores-context", composer.OutcomeTimeout, "", false},
		{"slow", composer.OutcomeTimeout, "", false},
	} {
		t.Run(c.spec, func(t *testing.T) {
			t.Parallel()
			r := Render(t, cases[c.spec], map[string]string{"city": "london"})
			if r.Outcome != c.outcome || r.HTML != c.html || errors.Is(r.Err, ErrPanic) != c.panic {
				t.Errorf("got %v %q %v, want %v %q panic=%v", r.Outcome, r.HTML, r.Err, c.outcome, c.html, c.panic)
			}
			if r.Outcome == composer.OutcomeTimeout && r.Duration > time.Second {
				t.Errorf("a timeout of 50ms took %v", r.Duration)
			}
		})
	}
}

func TestRenderOptions(t *testing.T) {
	good := cases["good"]
	if r := Render(t, good, nil); r.HTML != `<p>paris</p><bs-include fragment="good" city="x"></bs-include>` {
		t.Errorf("default param: %q", r.HTML)
	}
	r := Render(t, good, map[string]string{"city": "NOT VALID"}, AllowParamError())
	var pe *composer.ParamError
	if r.Outcome != composer.OutcomePlaceholder || !errors.As(r.Err, &pe) {
		t.Errorf("refused param: %v %v", r.Outcome, r.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := Render(t, good, nil, WithContext(ctx)); r.Outcome != composer.OutcomeError || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("cancelled context: %v %v", r.Outcome, r.Err)
	}
	start := time.Now()
	if r := Render(t, cases["slow"], nil, WithTimeout(5*time.Millisecond)); r.Outcome != composer.OutcomeTimeout || time.Since(start) > time.Second {
		t.Errorf("WithTimeout: %v after %v", r.Outcome, time.Since(start))
	}
}

func TestGolden(t *testing.T) {
	t.Chdir(t.TempDir())
	defer func(u bool) { *update = u }(*update)

	*update = true
	Golden(t, "x", "<p>one</p>\n")
	got, err := os.ReadFile(filepath.Join("testdata", "x.golden.html"))
	if err != nil || string(got) != "<p>one</p>\n" {
		t.Fatalf("-update wrote %q, %v", got, err)
	}
	*update = false
	Golden(t, "x", "<p>one</p>\n")

	// The failures are checked in a child process: see TestCheckAll.
}

// TestCheckAll runs CheckAll on each case in a child process (this test
// binary, running TestCheckAllChild) and checks that it passes only the good
// Spec, with a message naming the failure.
func TestCheckAll(t *testing.T) {
	if os.Getenv("FRAGMENTTEST_CHILD") != "" {
		t.Skip("in the child")
	}
	want := map[string]string{
		"good":            "",
		"panics":          "panics with its Example params",
		"panics-writing":  "panics with its Example params",
		"ignores-context": "exceeds its 50ms timeout, twice",
		"slow":            "exceeds its 50ms timeout, twice",
		"fails":           "fails with its Example params",
		"empty":           "renders empty HTML",
		"undeclared":      `includes "score", which is not in its declared Includes`,
		"unknown-include": `declares Includes "nowhere", which is not a registered fragment`,
		"golden-missing":  "testdata/nothing.golden.html does not exist: run the test with -update",
		"golden-differs":  "HTML differs from testdata/x.golden.html",
	}
	for name, msg := range want {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCheckAllChild$", "-test.v")
			cmd.Env = append(os.Environ(), "FRAGMENTTEST_CHILD="+name)
			cmd.Dir = t.TempDir()
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("the check took %v", took)
			}
			if msg == "" {
				if err != nil {
					t.Fatalf("CheckAll failed a good fragment: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckAll passed; want a failure with %q\n%s", msg, out)
			}
			if !strings.Contains(string(out), msg) {
				t.Errorf("output lacks %q:\n%s", msg, out)
			}
		})
	}
}

func TestCheckAllChild(t *testing.T) {
	name := os.Getenv("FRAGMENTTEST_CHILD")
	switch name {
	case "":
		t.Skip("run by TestCheckAll")
	case "golden-missing":
		Golden(t, "nothing", "<p></p>")
	case "golden-differs":
		if err := os.Mkdir("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/x.golden.html", []byte("<p>one</p>\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		Golden(t, "x", "<p>two</p>\n")
	default:
		CheckAll(t, []*composer.Spec{cases[name]})
	}
}
