package main

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
)

//go:embed scaffold/*.tmpl scaffold/site
var scaffoldFS embed.FS

var scaffold = template.Must(template.ParseFS(scaffoldFS, "scaffold/*.tmpl"))

// paramFlags collects repeated -param name=example flags.
type paramFlags []string

func (p *paramFlags) String() string     { return strings.Join(*p, ",") }
func (p *paramFlags) Set(v string) error { *p = append(*p, v); return nil }

// newCmd runs broadsheet new: new site (newSiteCmd) or new fragment.
func newCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "site" {
		return newSiteCmd(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "fragment" {
		return errors.New("usage: broadsheet new fragment NAME [-param name=example]... [-doc text] [-no-test]\n       " + newSiteUsage)
	}
	return newFragmentCmd(args[1:], stdout, stderr)
}

// newFragmentArgs are the arguments of broadsheet new fragment.
type newFragmentArgs struct {
	name   string
	params paramFlags
	doc    string
	noTest bool
}

// newFragmentCmd writes a fragment's three files into the project's
// fragments package, generates its templ code, runs its test (unless
// -no-test) and says what to do next.
func newFragmentCmd(args []string, stdout, stderr io.Writer) error {
	a, err := parseNewFragment(args, stderr)
	if err != nil {
		return err
	}
	proj, err := findProject()
	if err != nil {
		return err
	}
	plan, err := createFragment(proj.root, a, stdout)
	if err != nil {
		return err
	}
	if err := generateAndTest(proj.root, plan, a.noTest, stdout, stderr); err != nil {
		return err
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

// parseNewFragment reads the flags of broadsheet new fragment and its NAME,
// given before or after them.
func parseNewFragment(args []string, stderr io.Writer) (*newFragmentArgs, error) {
	a := &newFragmentArgs{}
	fs := flag.NewFlagSet("new fragment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&a.params, "param", "a required param and its example value, as name=example (repeatable)")
	fs.StringVar(&a.doc, "doc", "", "the fragment's one-line description, shown in the explorer")
	fs.BoolVar(&a.noTest, "no-test", false, "do not run the new fragment's test (which also writes its golden file)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: broadsheet new fragment NAME [-param name=example]... [-doc text] [-no-test]")
		fs.PrintDefaults()
	}
	rest := args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		a.name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return nil, err
	}
	if a.name == "" && fs.NArg() > 0 {
		a.name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if a.name == "" {
		fs.Usage()
		return nil, errors.New("new fragment: a NAME is required")
	}
	return a, nil
}

// createFragment plans the fragment a asks for, checks it against the
// fragments package under root, and writes its files, naming each one it
// wrote on stdout.
func createFragment(root string, a *newFragmentArgs, stdout io.Writer) (*fragmentPlan, error) {
	dir := filepath.Join(root, "fragments")
	plan, err := planFragment(a.name, a.params, a.doc)
	if err != nil {
		return nil, err
	}
	registered, err := registeredNames(dir)
	if err != nil {
		return nil, err
	}
	if err := checkClashes(plan, dir, registered); err != nil {
		return nil, err
	}
	written, err := writeFragment(plan, dir)
	for _, f := range written {
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintln(stdout, "wrote", rel)
	}
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// generateAndTest generates the new fragment's templ code and, unless
// noTest, runs its test, which writes its golden file.
func generateAndTest(root string, plan *fragmentPlan, noTest bool, stdout, stderr io.Writer) error {
	templFile := filepath.Join("fragments", plan.File+".templ")
	if err := runIn(root, stdout, stderr, "go", "tool", "templ", "generate", "-f", templFile); err != nil {
		return fmt.Errorf("templ generate -f %s: %w", templFile, err)
	}
	fmt.Fprintf(stdout, "wrote fragments/%s_templ.go\n", plan.File)
	if noTest {
		return nil
	}
	fmt.Fprintf(stdout, "running its test (writes fragments/testdata/%s.golden.html):\n", plan.Name)
	if err := runIn(root, stdout, stderr, "go", "test", "-count=1", "-run", "^("+plan.Test+"|TestEveryFragment)$", "./fragments/", "-update"); err != nil {
		return fmt.Errorf("the new fragment's test failed: %w", err)
	}
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
