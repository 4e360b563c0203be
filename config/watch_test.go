package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
)

const waitFor = 5 * time.Second

func siteWithBudget(budget string) string {
	return "site:\n  budget: " + budget + "\npages:\n  - {name: p, path: /, layout: front}\n"
}

// writeFile replaces the file the way editors that save atomically do.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type watchEvents struct {
	sites chan *composer.Site
	errs  chan error
}

func startWatch(t *testing.T, path string) (*watchEvents, func()) {
	t.Helper()
	ev := &watchEvents{sites: make(chan *composer.Site, 16), errs: make(chan error, 16)}
	stop, err := Watch(path, testRegistry(),
		func(s *composer.Site) { ev.sites <- s },
		func(err error) { ev.errs <- err })
	if err != nil {
		t.Fatal(err)
	}
	return ev, stop
}

func (ev *watchEvents) site(t *testing.T) *composer.Site {
	t.Helper()
	select {
	case s := <-ev.sites:
		return s
	case err := <-ev.errs:
		t.Fatalf("want a Site, got error %v", err)
	case <-time.After(waitFor):
		t.Fatal("no onChange within 5s")
	}
	return nil
}

func (ev *watchEvents) err(t *testing.T) error {
	t.Helper()
	select {
	case s := <-ev.sites:
		t.Fatalf("want an error, got a Site with budget %v", s.Limits.Budget)
	case err := <-ev.errs:
		return err
	case <-time.After(waitFor):
		t.Fatal("no onError within 5s")
	}
	return nil
}

func TestWatch(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "site.yaml")
	writeFile(t, path, siteWithBudget("100ms"))
	ev, stop := startWatch(t, path)
	defer stop()

	writeFile(t, path, siteWithBudget("200ms"))
	if s := ev.site(t); s.Limits.Budget != 200*time.Millisecond || s.Source != path {
		t.Errorf("got budget %v from %s", s.Limits.Budget, s.Source)
	}

	writeFile(t, path, siteWithBudget("forever"))
	err := ev.err(t)
	var e *Error
	if !errors.As(err, &e) || e.File != path || e.Line != 2 || e.Field != "site.budget" {
		t.Errorf("got %v, want an *Error at %s:2 for site.budget", err, path)
	}

	// Written in place rather than renamed over.
	if err := os.WriteFile(path, []byte(siteWithBudget("300ms")), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := ev.site(t); s.Limits.Budget != 300*time.Millisecond {
		t.Errorf("got budget %v, want 300ms", s.Limits.Budget)
	}

	stop()
	stop() // idempotent
	select {
	case s := <-ev.sites:
		t.Errorf("onChange after stop: %v", s.Limits.Budget)
	case err := <-ev.errs:
		t.Errorf("onError after stop: %v", err)
	default:
	}
}

// TestWatchRemoved checks that a removed file is reported and watched again
// once it is back.
func TestWatchRemoved(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "site.yaml")
	writeFile(t, path, siteWithBudget("100ms"))
	ev, stop := startWatch(t, path)
	defer stop()

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	ev.err(t)
	writeFile(t, path, siteWithBudget("400ms"))
	if s := ev.site(t); s.Limits.Budget != 400*time.Millisecond {
		t.Errorf("got budget %v, want 400ms", s.Limits.Budget)
	}
}

// TestWatchRelative checks a path without a directory, like the default
// "site.yaml": the provider watches the path's directory.
func TestWatchRelative(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "site.yaml", siteWithBudget("100ms"))
	ev, stop := startWatch(t, "site.yaml")
	defer stop()
	writeFile(t, "site.yaml", siteWithBudget("150ms"))
	if s := ev.site(t); s.Limits.Budget != 150*time.Millisecond || s.Source != "site.yaml" {
		t.Errorf("got budget %v from %s", s.Limits.Budget, s.Source)
	}
}

func TestWatchMissing(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := Watch(filepath.Join(t.TempDir(), "none.yaml"), testRegistry(), func(*composer.Site) {}, func(error) {})
	if err == nil {
		t.Fatal("Watch of a missing file succeeded")
	}
}
