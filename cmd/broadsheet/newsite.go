package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

const newSiteUsage = "usage: broadsheet new site DIR -module example.com/news"

// siteData is what the templates under scaffold/site read.
type siteData struct {
	Module   string // the site's module path
	Name     string // its binary's name, DIR's base
	Title    string // its front page's title
	Checkout string // the Broadsheet checkout its go.mod replaces Broadsheet with
	Go       string // the go line of its go.mod, Broadsheet's
}

// newSiteCmd writes a site's module in a new directory: go.mod (requiring
// Broadsheet, replaced by this checkout while it is unpublished), main.go,
// site.yaml, a README, the layouts package and the fragments package with
// one fragment and its test; then go mod tidy, templ generate, and the
// fragment's test, which writes its golden file.
func newSiteCmd(args []string, stdout, stderr io.Writer) error {
	dir, mod, err := parseNewSite(args, stderr)
	if err != nil {
		return err
	}
	proj, err := findProject()
	if err != nil {
		return err
	}
	if !proj.demo {
		return fmt.Errorf("new site: run it from the Broadsheet repository (%s is the site %s)", proj.root, proj.module)
	}
	data, err := planSite(proj.root, dir, mod)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(dir)
	written, err := writeSite(data, abs)
	for _, f := range written {
		rel, _ := filepath.Rel(abs, f)
		fmt.Fprintln(stdout, "wrote", filepath.Join(dir, rel))
	}
	if err != nil {
		return err
	}
	if err := finishSite(abs, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, `
Site %[1]q is ready in %[2]s. Next:
  cd %[2]s
  go run .                 # http://127.0.0.1:8080
  go test ./...
  go tool broadsheet dev   # live reload on http://127.0.0.1:7331
  go tool broadsheet new fragment NAME [-param name=example]
Its go.mod replaces Broadsheet with this checkout (%[3]s) while Broadsheet
is unpublished: see its README.
`, data.Name, dir, data.Checkout)
	return nil
}

// parseNewSite reads the flags of broadsheet new site and its DIR, given
// before or after them; both DIR and -module are required.
func parseNewSite(args []string, stderr io.Writer) (dir, mod string, err error) {
	fs := flag.NewFlagSet("new site", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&mod, "module", "", "the new site's module path, e.g. example.com/news (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, newSiteUsage)
		fs.PrintDefaults()
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", "", err
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return "", "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if dir == "" || mod == "" {
		fs.Usage()
		return "", "", errors.New("new site: a DIR and -module are required")
	}
	return dir, mod, nil
}

// finishSite runs, in the new site's directory abs, what makes it build and
// pass its tests: go mod tidy, templ generate, and the fragment's test,
// which writes its golden file.
func finishSite(abs string, stdout, stderr io.Writer) error {
	steps := [][]string{
		{"go", "mod", "tidy"},
		{"go", "tool", "templ", "generate", "-log-level", "warn"},
		{"go", "test", "-count=1", "./fragments", "-run", "^TestGreeting$", "-update"},
	}
	for _, st := range steps {
		fmt.Fprintf(stdout, "running %s\n", strings.Join(st, " "))
		if err := runIn(abs, stdout, stderr, st[0], st[1:]...); err != nil {
			return fmt.Errorf("new site: %s: %w", strings.Join(st, " "), err)
		}
	}
	return nil
}

// planSite validates the new site's module path and directory and returns
// what its templates need.
func planSite(checkout, dir, mod string) (*siteData, error) {
	if err := module.CheckPath(mod); err != nil {
		return nil, fmt.Errorf("new site: -module: %w", err)
	}
	if mod == modulePath || strings.HasPrefix(mod, modulePath+"/") {
		return nil, fmt.Errorf("new site: -module %s is Broadsheet's own", mod)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if inTree(checkout, abs) {
		return nil, fmt.Errorf("new site: %s is inside the Broadsheet repository (%s): choose a directory outside it", dir, checkout)
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("new site: %s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("new site: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(checkout, "go.mod"))
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax("go.mod", b, nil)
	if err != nil || f.Go == nil {
		return nil, fmt.Errorf("new site: reading Broadsheet's go.mod: %v", err)
	}
	name := filepath.Base(abs)
	return &siteData{
		Module:   mod,
		Name:     name,
		Title:    strings.ToUpper(name[:1]) + name[1:],
		Checkout: checkout,
		Go:       f.Go.Version,
	}, nil
}

// writeSite writes the site's files under dir from scaffold/site, Broadsheet's
// go.sum (go mod tidy keeps what the site needs) and its first fragment,
// refusing to overwrite any file. It returns the files it wrote, also on
// error.
func writeSite(d *siteData, dir string) ([]string, error) {
	var written []string
	create := func(path string, content []byte) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, werr := f.Write(content)
		if err := errors.Join(werr, f.Close()); err != nil {
			return err
		}
		written = append(written, path)
		return nil
	}
	err := fs.WalkDir(scaffoldFS, "scaffold/site", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		t, err := template.ParseFS(scaffoldFS, name)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, d); err != nil {
			return fmt.Errorf("scaffold %s: %w", name, err)
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(name, "scaffold/site/"), ".tmpl")
		if path.Base(rel) == "gitignore" {
			rel = path.Join(path.Dir(rel), ".gitignore")
		}
		out := buf.Bytes()
		if strings.HasSuffix(rel, ".go") {
			if out, err = format.Source(out); err != nil {
				return fmt.Errorf("scaffold %s: %w", name, err)
			}
		}
		return create(filepath.Join(dir, filepath.FromSlash(rel)), out)
	})
	if err != nil {
		return written, err
	}
	sum, err := os.ReadFile(filepath.Join(d.Checkout, "go.sum"))
	if err != nil {
		return written, err
	}
	if err := create(filepath.Join(dir, "go.sum"), sum); err != nil {
		return written, err
	}
	plan, err := planFragment("greeting", []string{"name=world"}, "A greeting for the name in param name.")
	if err != nil {
		return written, err
	}
	frag, err := writeFragment(plan, filepath.Join(dir, "fragments"))
	return append(written, frag...), err
}
