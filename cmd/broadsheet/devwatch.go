package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watch runs cycles for the changes w reports until ctx ends: a change
// starts a cycle once no other has come for quietFor, with every file
// changed meanwhile.
func (d *devServer) watch(ctx context.Context, w *fsnotify.Watcher) {
	changed := map[string]bool{}
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(d.out, "dev: stopping")
			return
		case err := <-w.Errors:
			fmt.Fprintln(d.errOut, "dev: watch:", err)
		case ev := <-w.Events:
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !skipDir(ev.Name) {
					_ = watchTree(w, ev.Name)
					continue
				}
			}
			if ev.Op == fsnotify.Chmod || !watched(ev.Name) {
				continue
			}
			changed[ev.Name] = true
			quiet.Reset(quietFor)
		case <-quiet.C:
			files := make([]string, 0, len(changed))
			for f := range changed {
				files = append(files, f)
			}
			clear(changed)
			slices.Sort(files)
			d.cycle(ctx, files)
		}
	}
}

// quietFor is how long dev mode waits after a change for the next one, so
// that an editor's burst of writes (a temporary file, a rename, a chmod) is
// one cycle.
const quietFor = 50 * time.Millisecond

// watched reports whether a change of file should rebuild the composer.
func watched(file string) bool {
	base := filepath.Base(file)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") ||
		strings.HasSuffix(base, "_test.go") || strings.HasSuffix(base, "_templ.go") || strings.HasSuffix(base, "_templ.txt") {
		return false
	}
	switch filepath.Ext(base) {
	case ".go", ".templ", ".yaml", ".yml", ".css", ".js":
		return true
	}
	return false
}

// skipDir reports whether dir holds nothing the composer is built from.
func skipDir(dir string) bool {
	base := filepath.Base(dir)
	return strings.HasPrefix(base, ".") || base == "testdata" || base == "node_modules" ||
		base == "bin" || base == "tmp" || base == "artifacts"
}

// watchTree watches dir and its subdirectories (fsnotify is not recursive).
func watchTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		if path != dir && skipDir(path) {
			return filepath.SkipDir
		}
		return w.Add(path)
	})
}
