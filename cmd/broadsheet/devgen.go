package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/a-h/templ"
	"github.com/a-h/templ/cmd/templ/generatecmd"
	"github.com/a-h/templ/generator"
	"github.com/fsnotify/fsnotify"
)

// templGen is dev mode's templ generator: templ's own watch-mode handler,
// in-process. For a .templ file of the tree it writes the same Go code as
// `go tool templ generate` (only when it changes) and the file's text
// literals beside, under dev mode's directory, where a child running with
// TEMPL_DEV_MODE reads them as it renders: a change of text alone needs no
// build. The .templ files of packages outside the tree (a site's
// dependencies) get their text written too, never their Go code: a child
// in development mode reads every component's text from there.
type templGen struct {
	tree, deps *generatecmd.FSEventHandler
	root       string
	seen       map[string]bool // the tree's .templ files generated so far
}

// newTemplGen generates every .templ file that target (a main package of
// the module at root) is built from, with write for the Go code of the
// tree's (writeIfChanged), and the text literals of all under dir.
func newTemplGen(ctx context.Context, root, target, dir string, write generatecmd.FileWriterFunc, log *slog.Logger) (*templGen, error) {
	// templ reads where to write the literals from the environment, as
	// the children do.
	if err := os.Setenv("TEMPL_DEV_MODE_ROOT", dir); err != nil {
		return nil, err
	}
	opts := []generator.GenerateOpt{generator.WithVersion(templ.Version())}
	g := &templGen{
		root: root,
		seen: map[string]bool{},
		tree: generatecmd.NewFSEventHandler(log, root, true, opts, false, true, write, false),
		deps: generatecmd.NewFSEventHandler(log, root, true, opts, false, true, func(string, []byte) error { return nil }, false),
	}
	dirs, err := packageDirs(ctx, root, target)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, pkgDir := range dirs {
		h := g.deps
		if inTree(root, pkgDir) {
			h = g.tree
		}
		files, _ := filepath.Glob(filepath.Join(pkgDir, "*.templ"))
		for _, f := range files {
			if _, err := h.HandleEvent(ctx, fsnotify.Event{Name: f, Op: fsnotify.Write}); err != nil {
				errs = append(errs, err)
			}
			g.seen[f] = h == g.tree
		}
	}
	// .templ files of the tree that target does not build from yet (a
	// package being written) are generated too, as templ generate would.
	err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() {
			if path != root && skipDir(path) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".templ") && !g.seen[path] {
			if _, err := g.tree.HandleEvent(ctx, fsnotify.Event{Name: path, Op: fsnotify.Write}); err != nil {
				errs = append(errs, err)
			}
			g.seen[path] = true
		}
		return nil
	})
	return g, errors.Join(append(errs, err)...)
}

// update regenerates the .templ files among files (a deleted one loses its
// generated code) and reports whether Go code changed: a build is needed.
func (g *templGen) update(ctx context.Context, files []string) (goChanged bool, err error) {
	var errs []error
	for _, f := range files {
		if !strings.HasSuffix(f, ".templ") {
			continue
		}
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			_ = os.Remove(strings.TrimSuffix(f, ".templ") + "_templ.go")
			delete(g.seen, f)
			goChanged = true
			continue
		}
		res, err := g.tree.HandleEvent(ctx, fsnotify.Event{Name: f, Op: fsnotify.Write})
		if err != nil {
			// Generated again by the next change of the file, whatever
			// its Go code then.
			delete(g.seen, f)
			errs = append(errs, err)
			continue
		}
		// A file generated for the first time is new Go code; after that
		// templ says whether the Go code changed or only the text.
		goChanged = goChanged || !g.seen[f] || res.TemplFileGoUpdated
		g.seen[f] = true
	}
	return goChanged, errors.Join(errs...)
}

// writeIfChanged writes contents to name unless the file holds them
// already, so that an unchanged generated file is not touched.
func writeIfChanged(name string, contents []byte) error {
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, contents) {
		return nil
	}
	return os.WriteFile(name, contents, 0o644)
}

// packageDirs lists the directories of the non-standard packages target
// is built from.
func packageDirs(ctx context.Context, root, target string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-e", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", target)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w\n%s", target, err, stderr.String())
	}
	return strings.Fields(string(out)), nil
}

// inTree reports whether dir is root or below it.
func inTree(root, dir string) bool {
	rel, err := filepath.Rel(root, dir)
	return err == nil && filepath.IsLocal(rel)
}
