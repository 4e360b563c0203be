package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ/cmd/templ/generatecmd/proxy"
	"github.com/fsnotify/fsnotify"
)

// devCmd runs the development loop until ctx ends:
//
//  1. It serves -addr (127.0.0.1:7331) with templ's reloading proxy in front
//     of a composer child on a free loopback port (or -app-addr). Children
//     run with templ's development mode on (TEMPL_DEV_MODE): the text of
//     every templ component is read from a file dev mode writes, outside
//     the tree, when it renders.
//  2. On a change of a watched file (.go but tests and generated code, .templ,
//     .yaml, static .css/.js) it waits for 50ms of quiet, then does the
//     least the change needs:
//     - .templ: it regenerates the changed files in-process (production
//     output: the committed *_templ.go stay current) and writes their text.
//     When only text changed, the Go code is the same and nothing is built.
//     - .go, static files, or a .templ whose Go code changed: it builds
//     ./cmd/composer to a new binary.
//     - .yaml: nothing is built (the child reloads its configuration
//     itself; the restart shows a bad file in the browser).
//     Then it starts a new child beside the running one, and once the new
//     one answers /healthz it sends the browsers' requests to it, reloads
//     every open page and stops the old one: no page waits for a shutdown.
//  3. When generation or the build fails, or the new child exits at start
//     (a fragment's Spec panics in init, a bad site.yaml), every page shows
//     the output instead, and reloads again once a later change fixes it.
//
// Each cycle logs its phases (dev: ready in … (generate, build, start)).
// It stops its children, by the PIDs it started, when it returns.
func devCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseDev(args, stderr)
	if err != nil {
		return err
	}
	proj, err := findProject()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "broadsheet-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	d := newDevServer(proj, tmp, a, stdout, stderr)
	front, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	hs := d.serve(front)
	defer hs.Close()
	defer d.stopAll()

	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := watchTree(w, proj.root); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "dev: open http://%s/ (fragment explorer: http://%s/_/fragments); watching %s\n", front.Addr(), front.Addr(), proj.root)
	d.cycle(ctx, nil)
	d.watch(ctx, w)
	return nil
}

// devArgs are the arguments of broadsheet dev.
type devArgs struct {
	addr, appAddr, config string
	rest                  []string // passed on to the composer
}

// parseDev reads the flags of broadsheet dev and refuses an address off
// the loopback interface.
func parseDev(args []string, stderr io.Writer) (*devArgs, error) {
	a := &devArgs{}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.addr, "addr", "127.0.0.1:7331", "address of the reloading proxy, the one to open in the browser (loopback only)")
	fs.StringVar(&a.appAddr, "app-addr", "127.0.0.1:0", "address of the composer behind it (loopback only; port 0: a free port for each child, so that a new one starts beside the old)")
	fs.StringVar(&a.config, "config", "site.yaml", "site configuration passed to the composer")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, addr := range []string{a.addr, a.appAddr} {
		if err := checkLoopback(addr); err != nil {
			return nil, err
		}
	}
	a.rest = fs.Args()
	return a, nil
}

// newDevServer returns the development loop of proj, its binaries in tmp,
// not yet serving.
func newDevServer(proj *project, tmp string, a *devArgs, stdout, stderr io.Writer) *devServer {
	d := &devServer{
		root:   proj.root,
		tmp:    tmp,
		target: proj.target(),
		// The explorer links each fragment to dev mode's source viewer;
		// a child stops at once, with no drain (nothing balances to it).
		childArgs: append([]string{"-config", a.config, "-source-url", "/_dev/source/", "-drain", "0"}, a.rest...),
		out:       stdout,
		errOut:    stderr,
		log:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if _, port, _ := net.SplitHostPort(a.appAddr); port != "0" {
		d.fixedAddr = a.appAddr
	}
	return d
}

// serve serves the browsers on front, through templ's reloading proxy,
// until the server it returns is closed.
func (d *devServer) serve(front net.Listener) *http.Server {
	host, port, _ := net.SplitHostPort(front.Addr().String())
	d.host = host
	d.port, _ = strconv.Atoi(port)
	d.proxy = proxy.New(d.log, host, d.port, &url.URL{Scheme: "http", Host: "127.0.0.1:1"})
	hs := &http.Server{Handler: d, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(front) }()
	return hs
}

// devServer is the state of the development loop. Its fields after log are
// guarded by mu.
type devServer struct {
	root, tmp   string
	target      string // the main package dev mode builds, e.g. ./cmd/composer
	fixedAddr   string // -app-addr when it names a port; "" for a free port per child
	host        string // the proxy's
	port        int
	childArgs   []string // the composer's flags but -addr
	out, errOut io.Writer
	proxy       *proxy.Handler // the browsers': reload script and events
	gen         *templGen
	log         *slog.Logger

	mu       sync.Mutex
	builds   int    // cycles started
	serving  int    // cycles that ended serving
	binaries int    // cycles that built a binary
	failure  string // what the browser is shown instead of the site, if any
	detail   string
	bin      string // the latest binary that built
	current  *child // the child the browsers' requests go to
}

// need is what a change needs done, from the least to the most.
type need int

const (
	needRestart need = iota // a new child of the same binary
	needBuild               // a new binary
)

// cycle regenerates, rebuilds if it must, and starts a new child after files
// changed (everything when files is nil), then reloads the browsers.
func (d *devServer) cycle(ctx context.Context, files []string) {
	start := time.Now()
	d.logChanged(files)
	d.mu.Lock()
	d.builds++
	n, bin := d.builds, d.bin
	d.mu.Unlock()

	what, phases, ok := d.generate(ctx, files)
	if !ok {
		return
	}
	if what == needBuild || bin == "" {
		t0 := time.Now()
		bin = filepath.Join(d.tmp, fmt.Sprintf("composer-%d", n))
		old, ok := d.rebuild(ctx, bin)
		if !ok {
			return
		}
		phases = append(phases, "build "+since(t0))
		if old != "" {
			defer os.Remove(old) // its child, if any, runs on: Linux keeps the file it executes
		}
	} else {
		phases = append(phases, "no build")
	}
	t0 := time.Now()
	if err := d.replaceChild(ctx, bin); err != nil {
		if ctx.Err() == nil {
			d.fail("the composer did not start", err.Error())
		}
		return
	}
	phases = append(phases, "start "+since(t0))
	d.mu.Lock()
	d.failure, d.detail = "", ""
	d.serving++
	d.mu.Unlock()
	fmt.Fprintf(d.out, "dev: ready in %s (%s)\n", since(start), strings.Join(phases, ", "))
	d.proxy.SendSSE("message", "reload")
}

// logChanged names the files that changed, the first four of them; nil
// (the first cycle) logs nothing.
func (d *devServer) logChanged(files []string) {
	if files == nil {
		return
	}
	rel := make([]string, len(files))
	for i, f := range files {
		rel[i], _ = filepath.Rel(d.root, f)
	}
	if len(rel) > 4 {
		rel = append(rel[:4], fmt.Sprintf("and %d more", len(rel)-4))
	}
	fmt.Fprintf(d.out, "dev: changed %s\n", strings.Join(rel, ", "))
}

// generate brings the generated templ code up to date after files changed
// (all of it on the first cycle, files nil) and returns what the change
// needs, with the generate phase when a .templ file changed. When
// generation fails it shows the failure and reports false.
func (d *devServer) generate(ctx context.Context, files []string) (need, []string, bool) {
	if d.gen == nil || files == nil {
		gen, err := newTemplGen(ctx, d.root, d.target, d.tmp, writeIfChanged, d.log)
		if err != nil {
			d.fail("templ generate failed", err.Error())
			return 0, nil, false
		}
		d.gen = gen
		return needBuild, nil, true
	}
	what := classify(files)
	t0 := time.Now()
	goChanged, err := d.gen.update(ctx, files)
	if err != nil {
		d.fail("templ generate failed", err.Error())
		return 0, nil, false
	}
	if goChanged {
		what = needBuild
	}
	var phases []string
	if slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, ".templ") }) {
		phases = append(phases, "generate "+since(t0))
	}
	return what, phases, true
}

// rebuild builds the composer to bin and makes it the latest binary,
// returning the one it replaces ("" for none). When the build fails it
// shows the failure, unless ctx ended, and reports false.
func (d *devServer) rebuild(ctx context.Context, bin string) (old string, ok bool) {
	if out, err := d.build(ctx, bin); err != nil {
		if ctx.Err() == nil {
			d.fail("go build "+d.target+" failed", out+err.Error())
		}
		return "", false
	}
	d.mu.Lock()
	old = d.bin
	d.bin = bin
	d.binaries++
	d.mu.Unlock()
	return old, true
}

// classify says what files need at least: a build for Go code and the
// static files the binary embeds, a restart for configuration. A .templ
// file needs what its generation says (templGen.update).
func classify(files []string) need {
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".go", ".css", ".js":
			return needBuild
		}
	}
	return needRestart
}

// build compiles the target package to bin without what a development
// binary does without, each for a share of the link's time (which is most
// of a cycle's, and grows with the symbols linked): VCS stamping (a git
// call per build), the symbol table and DWARF (a third), the OTLP trace
// exporter (tag nootlp: its protobuf and gRPC packages, a fifth) and cgo
// (the pure-Go resolver, a tenth).
func (d *devServer) build(ctx context.Context, bin string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-tags=nootlp", "-ldflags=-s -w", "-o", bin, d.target)
	cmd.Dir = d.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

// checkLoopback refuses an address that is not on the loopback interface:
// the dev server runs whatever code is in the tree.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dev: address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("dev: address %q: dev mode binds loopback addresses only (127.0.0.1)", addr)
	}
	return nil
}

// templBinary returns the command that runs the templ pinned in go.mod: its
// cached binary when go tool -n finds it (saving go tool's start-up on every
// save), else go tool templ.
func templBinary(root string) []string {
	cmd := exec.Command("go", "tool", "-n", "templ")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		if path := strings.TrimSpace(string(out)); path != "" {
			if _, err := os.Stat(path); err == nil {
				return []string{path}
			}
		}
	}
	return []string{"go", "tool", "templ"}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
