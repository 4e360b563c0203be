// Command broadsheet is the fragment author's tool.
//
//	go run ./cmd/broadsheet new fragment NAME [-param name=example]... [-doc text] [-no-test]
//	go run ./cmd/broadsheet dev [-addr 127.0.0.1:7331] [-config site.yaml] [-- composer flags]
//	go run ./cmd/broadsheet check
//
// new fragment writes fragments/NAME.go (function, Spec, defaults, example
// params), fragments/NAME.templ (its markup) and fragments/NAME_test.go, runs
// templ generate on the markup and runs the new test, which writes its golden
// file. It refuses invalid names and names that clash with a registered
// fragment, a file or a Go name of package fragments.
//
// dev serves the site through a reloading proxy: on every change of a .go,
// .templ, .yaml or static file it regenerates templ code, rebuilds and
// restarts the composer, and reloads the browser. A build or start failure
// is shown in the browser instead of a dead server. It binds 127.0.0.1 only.
//
// check runs what a new fragment or page can break, in well under a
// minute: it regenerates the templ code (as dev mode does), then runs
// gofmt and go vet over the fragments, templates and web packages, and
// their tests — the every-fragment check, each fragment's own test, and
// every page of site.yaml loaded and checked (main landmark, h1, outcomes).
//
// Run it from the repository (any directory inside it).
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

// checkPackages are the packages a new fragment or page can break: the
// fragments' own tests and the every-fragment check, the layouts, and the
// pages of site.yaml served whole (TestEveryPage, the indexes).
var checkPackages = []string{"./fragments/...", "./templates/...", "./web/..."}

// checkCmd runs broadsheet check in the module's root.
func checkCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("check takes no arguments, got %q", args)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	steps := []struct {
		what string
		cmd  []string
	}{
		{"templ generate", append(templBinary(root), "generate", "-log-level", "warn")},
		{"go vet", append([]string{"go", "vet"}, checkPackages...)},
		{"go test", append([]string{"go", "test", "-count=1"}, checkPackages...)},
	}
	for i, st := range steps {
		fmt.Fprintf(stdout, "== %s\n", st.what)
		if err := runIn(root, stdout, stderr, st.cmd[0], st.cmd[1:]...); err != nil {
			return fmt.Errorf("check: %s: %w", st.what, err)
		}
		if i == 0 {
			if err := checkFormat(root, stdout); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(stdout, "check: all good")
	return nil
}

// checkFormat fails when gofmt would change a Go file of the checked
// packages, naming them (CI refuses them too).
func checkFormat(root string, stdout io.Writer) error {
	fmt.Fprintln(stdout, "== gofmt")
	var dirs []string
	for _, p := range checkPackages {
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
