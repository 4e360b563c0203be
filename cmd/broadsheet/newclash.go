package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

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
