package fragments

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/fragments/fragmenttest"
)

func TestMain(m *testing.M) {
	// Fragments under test must not wait for the simulated backend.
	feed.Configure(feed.Options{})
	os.Exit(m.Run())
}

// funcName returns the name of a Render function, without its package path.
func funcName(f composer.RenderFunc) string {
	name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	return name[strings.LastIndex(name, ".")+1:]
}

// TestEveryFragmentFuncIsRegistered fails when an exported function with a
// fragment's signature is not the Render of a registered Spec, which is what
// happens when someone writes a fragment and forgets its init.
func TestEveryFragmentFuncIsRegistered(t *testing.T) {
	registered := map[string]string{} // Go function name → fragment name
	for _, s := range All() {
		registered[funcName(s.Render)] = s.Name
	}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || strings.HasSuffix(file, "_templ.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || !isRenderSignature(fn.Type) {
				continue
			}
			found++
			if _, ok := registered[fn.Name.Name]; !ok {
				t.Errorf("%s: %s has a fragment's signature but no registered Spec renders with it", fset.Position(fn.Pos()), fn.Name.Name)
			}
		}
	}
	if found == 0 {
		t.Fatal("found no fragment functions: is the test running in the fragments directory?")
	}
	if found != len(registered) {
		t.Errorf("found %d fragment functions for %d registered fragments", found, len(registered))
	}
}

// isRenderSignature reports whether ft is
// func(context.Context, composer.Params) (templ.Component, error).
func isRenderSignature(ft *ast.FuncType) bool {
	return slices.Equal(fieldTypes(ft.Params), []string{"context.Context", "composer.Params"}) &&
		slices.Equal(fieldTypes(ft.Results), []string{"templ.Component", "error"})
}

// fieldTypes lists the type of each parameter, repeating a type shared by
// several names.
func fieldTypes(fl *ast.FieldList) []string {
	var out []string
	if fl == nil {
		return out
	}
	for _, f := range fl.List {
		n := max(len(f.Names), 1)
		for range n {
			out = append(out, types.ExprString(f.Type))
		}
	}
	return out
}

// TestEveryFragment is the every-fragment check: each registered fragment
// renders its Example params within its timeout, without error or panic, and
// nests only the fragments it declares. A new fragment is checked the moment
// its file is dropped in.
func TestEveryFragment(t *testing.T) {
	fragmenttest.CheckAll(t, All())
}

// specNamed returns the registered Spec of fragment name.
func specNamed(t testing.TB, name string) *composer.Spec {
	t.Helper()
	s := registry.Lookup(name)
	if s == nil {
		t.Fatalf("no fragment %q is registered", name)
	}
	return s
}

// TestExamplesCoverRequiredParams checks that the explorer can show every
// fragment: each required param has an example value.
func TestExamplesCoverRequiredParams(t *testing.T) {
	for _, s := range All() {
		for _, ps := range s.Params {
			if ps.Required && s.Example[ps.Name] == "" {
				t.Errorf("%s: required param %q has no example", s.Name, ps.Name)
			}
		}
	}
}

// TestNotFound checks that unknown ids and cities are composer.ErrNotFound,
// which a primary include turns into a 404.
func TestNotFound(t *testing.T) {
	cases := []struct{ fragment, param, value string }{
		{"story", "id", "s999"},
		{"article", "id", "s000"},
		{"weather", "city", "atlantis"},
		{"forecast", "city", "atlantis"},
		{"score", "match", "m99999"},
	}
	for _, c := range cases {
		t.Run(c.fragment, func(t *testing.T) {
			s := specNamed(t, c.fragment)
			p, err := composer.NewParams(s, map[string]string{c.param: c.value})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Render(context.Background(), p); !errors.Is(err, composer.ErrNotFound) {
				t.Errorf("err = %v, want composer.ErrNotFound", err)
			}
		})
	}
}

// TestHonoursContext checks that every fragment fails, rather than renders,
// when its context has already ended.
func TestHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, s := range All() {
		p, err := composer.NewParams(s, s.Example)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Render(ctx, p); err == nil {
			t.Errorf("%s rendered with a cancelled context", s.Name)
		}
	}
}

// TestScoreboardDivisions checks that a board of every division lists
// each division's matches under its own heading, in the order of
// feed.Leagues, and that a board of one division has no such sections.
func TestScoreboardDivisions(t *testing.T) {
	s := specNamed(t, "scoreboard")
	render := func(raw map[string]string) string {
		r := fragmenttest.Render(t, s, raw)
		if r.Outcome != composer.OutcomeMiss {
			t.Fatalf("%v: %v: %v", raw, r.Outcome, r.Err)
		}
		return r.HTML
	}
	const open = `<section class="bs-board__division"`
	html := render(map[string]string{"size": "12"})
	sections := strings.Split(html, open)[1:]
	leagues := feed.Leagues()
	if len(sections) != len(leagues) {
		t.Fatalf("%d division sections, want %d:\n%s", len(sections), len(leagues), html)
	}
	ids := regexp.MustCompile(`<bs-include fragment="score" match="(m[0-9]+)"`)
	var seen []string
	for i, sec := range sections {
		if !strings.Contains(sec, ">"+leagues[i].Name+"</h3>") {
			t.Errorf("section %d is not headed %q", i, leagues[i].Name)
		}
		for _, m := range ids.FindAllStringSubmatch(sec, -1) {
			if l, _ := feed.LeagueOf(m[1]); l != leagues[i] {
				t.Errorf("%s (%s) is listed under %s", m[1], l.Name, leagues[i].Name)
			}
			seen = append(seen, m[1])
		}
	}
	want, _ := feed.Default.MatchIDs(context.Background(), "", 12)
	slices.Sort(seen)
	if !slices.Equal(seen, want) {
		t.Errorf("board lists %v, want the first 12 matches %v", seen, want)
	}
	if html := render(map[string]string{"size": "12", "league": "third"}); strings.Contains(html, open) {
		t.Errorf("a board of one division has division sections:\n%s", html)
	}
}

// TestScoreboardSizes checks the page-sized scoreboard: one include per
// match, capped at the number of matches.
func TestScoreboardSizes(t *testing.T) {
	s := specNamed(t, "scoreboard")
	for _, c := range []struct {
		raw  map[string]string
		want int
	}{
		{nil, 2000},
		{map[string]string{"size": "20000"}, feed.MaxMatches},
		{map[string]string{"size": "99999"}, feed.MaxMatches},
		{map[string]string{"size": "99999", "league": "third"}, feed.MatchesPerLeague},
		{map[string]string{"size": "0"}, 0},
	} {
		p, err := composer.NewParams(s, c.raw)
		if err != nil {
			t.Fatal(err)
		}
		comp, err := s.Render(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := comp.Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		n := bytes.Count(buf.Bytes(), []byte(`<bs-include fragment="score"`))
		if n != c.want {
			t.Errorf("%v: %d score includes, want %d", c.raw, n, c.want)
		}
		// The largest size the scores page advertises must fit the
		// scoreboard's own cap, or the page is a 503.
		if max := s.Defaults.EffectiveMaxBytes(composer.DefaultLimits); buf.Len() > max {
			t.Errorf("%v: %d bytes, over the scoreboard's max_bytes of %d", c.raw, buf.Len(), max)
		}
	}
}
