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
// check runs the every-fragment check (TestEveryFragment) and the fragments'
// tests.
//
// Run it from the repository (any directory inside it).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
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
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		return runIn(root, stdout, stderr, "go", "test", "-count=1", "./fragments/...")
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
