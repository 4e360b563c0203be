package main

import (
	"fmt"
	"go/token"
	"path/filepath"
	"slices"
	"strings"

	"github.com/broadsheet/broadsheet/composer"
)

// The pattern and length cap given to scaffolded params; the author narrows
// them afterwards.
const (
	scaffoldPattern = `[a-z0-9-]{1,40}`
	scaffoldMaxLen  = 40
)

// fragmentPlan is what the scaffold writes for one fragment; the templates
// under scaffold/ read it.
type fragmentPlan struct {
	Name  string // the fragment's name, e.g. traffic-cams
	File  string // the base of its files, e.g. traffic_cams
	Func  string // its exported Render function, e.g. TrafficCams
	View  string // its templ component, e.g. trafficCamsView
	Test  string // its test, e.g. TestTrafficCams
	Title string // its heading, e.g. Traffic cams
	Class string // its CSS block, e.g. bs-traffic-cams
	Doc   string
	// Params are the declared params, in the order given.
	Params []paramPlan
}

type paramPlan struct {
	Name, Example, Doc, Pattern string
	MaxLen                      int
	Var                         string // its Go name in the templ component
}

// files are the three files the scaffold writes for p in dir, in the order
// writeFragment writes them.
func (p *fragmentPlan) files(dir string) []string {
	return []string{
		filepath.Join(dir, p.File+".go"),
		filepath.Join(dir, p.File+".templ"),
		filepath.Join(dir, p.File+"_test.go"),
	}
}

// planFragment validates name and params and derives the Go names and files.
func planFragment(name string, params []string, doc string) (*fragmentPlan, error) {
	if err := checkName("fragment name", name); err != nil {
		return nil, err
	}
	file := strings.ReplaceAll(name, "-", "_")
	if err := checkFileName(file); err != nil {
		return nil, fmt.Errorf("fragment name %q: %w", name, err)
	}
	camel := camelCase(name)
	p := &fragmentPlan{
		Name:  name,
		File:  file,
		Func:  camel,
		View:  strings.ToLower(camel[:1]) + camel[1:] + "View",
		Test:  "Test" + camel,
		Title: strings.ToUpper(name[:1]) + strings.NewReplacer("-", " ", "_", " ").Replace(name[1:]),
		Class: "bs-" + strings.ReplaceAll(name, "_", "-"),
		Doc:   doc,
	}
	if p.Doc == "" {
		p.Doc = "TODO: say what " + name + " renders, and what an unknown input does."
	}
	re, err := composer.CompilePattern(scaffoldPattern)
	if err != nil {
		return nil, err
	}
	vars := map[string]bool{}
	for _, raw := range params {
		pname, example, ok := strings.Cut(raw, "=")
		if !ok || example == "" {
			return nil, fmt.Errorf("-param %q: want name=example, e.g. -param city=london", raw)
		}
		if err := checkName("param name", pname); err != nil {
			return nil, fmt.Errorf("-param %q: %w", raw, err)
		}
		if slices.ContainsFunc(p.Params, func(q paramPlan) bool { return q.Name == pname }) {
			return nil, fmt.Errorf("-param %q: param %q given twice", raw, pname)
		}
		if !re.MatchString(example) {
			return nil, fmt.Errorf("-param %q: the example must match the scaffold's pattern %s (lowercase letters, digits, '-'); widen the pattern in the file afterwards if you need to", raw, scaffoldPattern)
		}
		v := camelCase(pname)
		v = strings.ToLower(v[:1]) + v[1:]
		if token.IsKeyword(v) || slices.Contains([]string{"templ", "ctx", "context", "composer", "fmt", "io"}, v) {
			v += "Value"
		}
		if vars[v] {
			return nil, fmt.Errorf("-param %q: its Go name %s clashes with another param's", raw, v)
		}
		vars[v] = true
		p.Params = append(p.Params, paramPlan{
			Name: pname, Example: example, Var: v,
			Pattern: scaffoldPattern, MaxLen: scaffoldMaxLen,
			Doc: "TODO: what " + pname + " selects, e.g. " + example + ".",
		})
	}
	return p, nil
}

// checkName applies the composer's name rule (see composer.ValidateSpec)
// with a message that says what is wrong.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case len(s) > 64:
		return fmt.Errorf("%s %q is longer than 64 bytes", what, s)
	case s[0] < 'a' || s[0] > 'z':
		return fmt.Errorf("%s %q must start with a lowercase letter", what, s)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%s %q: only lowercase letters, digits, '-' and '_' are allowed", what, s)
		}
	}
	return nil
}

// Go gives meaning to the last parts of a file name (see go/build): x_test.go
// is a test, x_linux.go and x_arm64.go build only there. A fragment file must
// build everywhere and not look generated.
var (
	knownOS   = strings.Fields("aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris wasip1 windows zos")
	knownArch = strings.Fields("386 amd64 amd64p32 arm armbe arm64 arm64be loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc ppc64 ppc64le riscv riscv64 s390 s390x sparc sparc64 wasm")
)

func checkFileName(file string) error {
	parts := strings.Split(file, "_")
	last := parts[len(parts)-1]
	switch {
	case len(parts) > 1 && last == "test":
		return fmt.Errorf("%s.go would be a test file", file)
	case len(parts) > 1 && last == "templ":
		return fmt.Errorf("%s.go would look like templ's generated code", file)
	}
	for _, part := range parts[1:] {
		if slices.Contains(knownOS, part) || slices.Contains(knownArch, part) {
			if part == last || part == parts[len(parts)-2] {
				return fmt.Errorf("%s.go would build only on %s (Go reads _%s in a file name as a build constraint)", file, part, part)
			}
		}
	}
	return nil
}

// camelCase turns traffic-cams or traffic_cams into TrafficCams.
func camelCase(name string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
