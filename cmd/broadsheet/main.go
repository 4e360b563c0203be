// Command broadsheet is the fragment author's tool.
//
//	go run ./cmd/broadsheet new fragment NAME [-param name=example]... [-doc text] [-no-test]
//	go run ./cmd/broadsheet new site DIR -module example.com/news
//	go run ./cmd/broadsheet dev [-addr 127.0.0.1:7331] [-config site.yaml] [-- composer flags]
//	go run ./cmd/broadsheet check
//
// It works on Broadsheet's own repository (the demo site) or on a site's
// module (one that requires Broadsheet), found from the working directory
// up; in a site it runs as go tool broadsheet.
//
// new fragment writes fragments/NAME.go (function, Spec, defaults, example
// params), fragments/NAME.templ (its markup) and fragments/NAME_test.go, runs
// templ generate on the markup and runs the new test, which writes its golden
// file. It refuses invalid names and names that clash with a registered
// fragment, a file or a Go name of package fragments.
//
// new site writes a site's own Go module in DIR, outside the repository:
// go.mod (requiring Broadsheet, replaced by this checkout while Broadsheet
// is unpublished), main.go (package server with the site's parts),
// site.yaml, a README, its layouts and its fragments with one fragment and
// its test. In DIR, go run . serves it and go test ./... passes.
//
// dev serves the site through a reloading proxy: on every change of a .go,
// .templ, .yaml or static file it does the least the change needs (see
// devCmd), starts a new server beside the old one and reloads the browser.
// A build or start failure is shown in the browser instead of a dead
// server. It binds 127.0.0.1 only.
//
// check runs what a new fragment or page can break, in well under a
// minute: it regenerates the templ code (as dev mode does), then runs
// gofmt and go vet over the fragments, templates and web packages (a
// site's every package), and their tests — the every-fragment check, each
// fragment's own test, and every page of site.yaml loaded and checked
// (main landmark, h1, headings, outcomes).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage:
  broadsheet new fragment NAME [-param name=example]... [-doc text] [-no-test]
  broadsheet new site DIR -module example.com/news
  broadsheet dev [-addr 127.0.0.1:7331] [-config site.yaml] [-- composer flags]
  broadsheet check
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "broadsheet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command")
	}
	switch args[0] {
	case "new":
		return newCmd(args[1:], stdout, stderr)
	case "dev":
		return devCmd(ctx, args[1:], stdout, stderr)
	case "check":
		return checkCmd(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// checkCmd runs broadsheet check in the module's root.
func checkCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("check takes no arguments, got %q", args)
	}
	proj, err := findProject()
	if err != nil {
		return err
	}
	root, pkgs := proj.root, proj.checkPackages()
	steps := []struct {
		what string
		cmd  []string
	}{
		{"templ generate", append(templBinary(root), "generate", "-log-level", "warn")},
		{"go vet", append([]string{"go", "vet"}, pkgs...)},
		{"go test", append([]string{"go", "test", "-count=1"}, pkgs...)},
	}
	for i, st := range steps {
		fmt.Fprintf(stdout, "== %s\n", st.what)
		if err := runIn(root, stdout, stderr, st.cmd[0], st.cmd[1:]...); err != nil {
			return fmt.Errorf("check: %s: %w", st.what, err)
		}
		if i == 0 {
			if err := checkFormat(root, pkgs, stdout); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(stdout, "check: all good")
	return nil
}

// checkFormat fails when gofmt would change a Go file of the checked
// packages pkgs, naming them (CI refuses them too).
func checkFormat(root string, pkgs []string, stdout io.Writer) error {
	fmt.Fprintln(stdout, "== gofmt")
	var dirs []string
	for _, p := range pkgs {
		dirs = append(dirs, strings.TrimSuffix(p, "/..."))
	}
	cmd := exec.Command("gofmt", append([]string{"-l"}, dirs...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("check: gofmt: %w", err)
	}
	if files := strings.TrimSpace(string(out)); files != "" {
		return fmt.Errorf("check: gofmt would change:\n%s\n(run gofmt -w on them)", files)
	}
	return nil
}
