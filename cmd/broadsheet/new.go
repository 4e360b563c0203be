package main

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/broadsheet/broadsheet/composer"
)

//go:embed scaffold/*.tmpl scaffold/site
var scaffoldFS embed.FS

var scaffold = template.Must(template.ParseFS(scaffoldFS, "scaffold/*.tmpl"))

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

// paramFlags collects repeated -param name=example flags.
type paramFlags []string

func (p *paramFlags) String() string     { return strings.Join(*p, ",") }
func (p *paramFlags) Set(v string) error { *p = append(*p, v); return nil }

func newCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "site" {
		return newSiteCmd(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "fragment" {
		return errors.New("usage: broadsheet new fragment NAME [-param name=example]... [-doc text] [-no-test]\n       " + newSiteUsage)
	}
	fs := flag.NewFlagSet("new fragment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var params paramFlags
	fs.Var(&params, "param", "a required param and its example value, as name=example (repeatable)")
	doc := fs.String("doc", "", "the fragment's one-line description, shown in the explorer")
	noTest := fs.Bool("no-test", false, "do not run the new fragment's test (which also writes its golden file)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: broadsheet new fragment NAME [-param name=example]... [-doc text] [-no-test]")
		fs.PrintDefaults()
	}
	// Accept flags before or after NAME.
	rest := args[1:]
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if name == "" {
		fs.Usage()
		return errors.New("new fragment: a NAME is required")
	}

	proj, err := findProject()
	if err != nil {
		return err
	}
	root := proj.root
	dir := filepath.Join(root, "fragments")
	plan, err := planFragment(name, params, *doc)
	if err != nil {
		return err
	}
	registered, err := registeredNames(dir)
	if err != nil {
		return err
	}
	if err := checkClashes(plan, dir, registered); err != nil {
		return err
	}
	written, err := writeFragment(plan, dir)
	for _, f := range written {
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintln(stdout, "wrote", rel)
	}
	if err != nil {
		return err
	}

	templFile := filepath.Join("fragments", plan.File+".templ")
	if err := runIn(root, stdout, stderr, "go", "tool", "templ", "generate", "-f", templFile); err != nil {
		return fmt.Errorf("templ generate -f %s: %w", templFile, err)
	}
	fmt.Fprintf(stdout, "wrote fragments/%s_templ.go\n", plan.File)
	if !*noTest {
		fmt.Fprintf(stdout, "running its test (writes fragments/testdata/%s.golden.html):\n", plan.Name)
		if err := runIn(root, stdout, stderr, "go", "test", "-count=1", "-run", "^("+plan.Test+"|TestEveryFragment)$", "./fragments/", "-update"); err != nil {
			return fmt.Errorf("the new fragment's test failed: %w", err)
		}
	}
	fmt.Fprintf(stdout, `
Fragment %[1]q is registered and tested. Next:
  1. Write its work in fragments/%[2]s.go (and its Doc, params, defaults)
     and its markup in fragments/%[2]s.templ.
  2. Place it on a page: add this page to the pages of site.yaml (or an
     include to a page there, in a slot of the page's layout):
%[3]s
  3. Watch it while you work: %[4]s dev, then open
       http://127.0.0.1:7331/_/fragments#f-%[1]s
  4. Check it: %[4]s check (every test a new fragment
     or page can break; add -update to a go test run to accept a
     deliberate change of its golden HTML).
`, plan.Name, plan.File, pageSnippet(proj, plan), proj.tool())
	return nil
}

// pageSnippet is the site.yaml page the scaffold suggests for plan: its
// fragment alone, with its example params, at /try/NAME, on a page whose
// layout's h1 is the page title (proj.pageLayout). The text is indented to
// be appended to the pages list.
func pageSnippet(proj *project, plan *fragmentPlan) string {
	var example []string
	for _, p := range plan.Params {
		example = append(example, p.Name+": "+p.Example)
	}
	inc := "{fragment: " + plan.Name + ", slot: main"
	if len(example) > 0 {
		inc += ", params: {" + strings.Join(example, ", ") + "}"
	}
	inc += "}"
	layout, before, after := proj.pageLayout()
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    path: /try/%s\n    title: %q\n    layout: %s\n    includes:\n", plan.Name, plan.Name, plan.Title, layout)
	for _, in := range slices.Concat(before, []string{inc}, after) {
		fmt.Fprintf(&b, "      - %s\n", in)
	}
	return b.String()
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

// registeredNames lists the fragments registered in dir, a fragments
// package: the Name of every composer.Spec literal in its Go files.
func registeredNames(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var names []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("reading package fragments: %w", err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if sel, ok := lit.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Spec" {
				return true
			}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if key, _ := kv.Key.(*ast.Ident); ok && key != nil && key.Name == "Name" {
					if v, ok := kv.Value.(*ast.BasicLit); ok && v.Kind == token.STRING {
						if name, err := strconv.Unquote(v.Value); err == nil {
							names = append(names, name)
						}
					}
				}
			}
			return true
		})
	}
	slices.Sort(names)
	return names, nil
}

// checkClashes refuses a plan whose name is registered, whose files exist, or
// whose Go names are already declared in package fragments (tests included).
func checkClashes(p *fragmentPlan, dir string, registered []string) error {
	if slices.Contains(registered, p.Name) {
		return fmt.Errorf("a fragment named %q is already registered", p.Name)
	}
	for _, f := range p.files(dir) {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("%s already exists", f)
		}
	}
	for _, f := range []string{p.File + "_templ.go", filepath.Join("testdata", p.Name+".golden.html")} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%s already exists", filepath.Join(dir, f))
		}
	}
	decls, err := packageDecls(dir)
	if err != nil {
		return err
	}
	for _, id := range []string{p.Func, p.View, p.Test} {
		if where, ok := decls[id]; ok {
			return fmt.Errorf("fragment %q needs the Go name %s, already declared at %s; choose another name", p.Name, id, where)
		}
	}
	// Other fragments' names may map to the same Go names or files
	// (traffic-cams and traffic_cams): registered names are checked too.
	for _, other := range registered {
		if camelCase(other) == p.Func {
			return fmt.Errorf("fragment %q would have the same Go name, %s, as registered fragment %q", p.Name, p.Func, other)
		}
	}
	return nil
}

// packageDecls maps each top-level name declared in dir's Go files to where.
func packageDecls(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	decls := map[string]string{}
	add := func(id *ast.Ident) {
		if id != nil && id.Name != "_" && id.Name != "init" {
			decls[id.Name] = fset.Position(id.Pos()).String()
		}
	}
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("reading package fragments: %w", err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					add(d.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						add(s.Name)
					case *ast.ValueSpec:
						for _, n := range s.Names {
							add(n)
						}
					}
				}
			}
		}
	}
	return decls, nil
}

func (p *fragmentPlan) files(dir string) []string {
	return []string{
		filepath.Join(dir, p.File+".go"),
		filepath.Join(dir, p.File+".templ"),
		filepath.Join(dir, p.File+"_test.go"),
	}
}

// writeFragment writes the plan's three files, refusing to overwrite any.
// It returns the files it wrote, also on error.
func writeFragment(p *fragmentPlan, dir string) ([]string, error) {
	var written []string
	for i, tmpl := range []string{"fragment.go.tmpl", "fragment.templ.tmpl", "fragment_test.go.tmpl"} {
		var buf bytes.Buffer
		if err := scaffold.ExecuteTemplate(&buf, tmpl, p); err != nil {
			return written, err
		}
		out := buf.Bytes()
		if strings.HasSuffix(tmpl, ".go.tmpl") {
			var err error
			if out, err = format.Source(out); err != nil {
				return written, fmt.Errorf("scaffold %s: %w", tmpl, err)
			}
		}
		path := p.files(dir)[i]
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return written, err
		}
		_, werr := f.Write(out)
		if err := errors.Join(werr, f.Close()); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// runIn runs a command in dir with the output going to stdout and stderr.
func runIn(dir string, stdout, stderr io.Writer, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd.Run()
}
