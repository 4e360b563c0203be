package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/mod/modfile"
)

// modulePath is Broadsheet's module.
const modulePath = "github.com/broadsheet/broadsheet"

// project is the module the tool works on, found from the working
// directory up: Broadsheet's own repository (the demo site) or a site's
// module, one that requires Broadsheet (written by new site).
type project struct {
	root   string // the module's directory
	module string // its path
	demo   bool   // Broadsheet's own repository
}

// findProject finds the project the working directory is in.
func findProject() (*project, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			return projectOf(dir, data)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, errors.New("no go.mod found: run from the Broadsheet repository or a site's module (broadsheet new site)")
		}
		dir = parent
	}
}

// projectOf reads the go.mod (data) of the module at dir.
func projectOf(dir string, data []byte) (*project, error) {
	f, err := modfile.ParseLax(filepath.Join(dir, "go.mod"), data, nil)
	if err != nil {
		return nil, err
	}
	if f.Module == nil {
		return nil, fmt.Errorf("%s/go.mod names no module", dir)
	}
	p := &project{root: dir, module: f.Module.Mod.Path, demo: f.Module.Mod.Path == modulePath}
	requires := slices.ContainsFunc(f.Require, func(r *modfile.Require) bool { return r.Mod.Path == modulePath })
	if !p.demo && !requires {
		return nil, fmt.Errorf("%s/go.mod: module %s does not require %s: run from the Broadsheet repository or a site's module (broadsheet new site)", dir, p.module, modulePath)
	}
	return p, nil
}

// target is the main package that serves the project.
func (p *project) target() string {
	if p.demo {
		return "./cmd/composer"
	}
	return "."
}

// tool is how the project runs this tool.
func (p *project) tool() string {
	if p.demo {
		return "go run ./cmd/broadsheet"
	}
	return "go tool broadsheet"
}

// checkPackages are the packages a new fragment or page can break: in the
// repository, the fragments' tests and the every-fragment check, the
// layouts, and the pages of site.yaml served whole (TestEveryPage, the
// indexes); in a site, all of it.
func (p *project) checkPackages() []string {
	if p.demo {
		return []string{"./fragments/...", "./templates/...", "./web/..."}
	}
	return []string{"./..."}
}

// pageLayout is the layout of the page new fragment suggests, and the
// includes around the new one.
func (p *project) pageLayout() (layout string, before, after []string) {
	if p.demo {
		return "single", []string{"{fragment: nav, slot: nav}"}, []string{"{fragment: footer, slot: footer}"}
	}
	return "page", nil, nil
}
