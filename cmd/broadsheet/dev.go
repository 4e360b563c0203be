package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"io/fs"
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
	"syscall"
	"time"

	"github.com/a-h/templ/cmd/templ/generatecmd/proxy"
	"github.com/fsnotify/fsnotify"
)

// devCmd runs the development loop until ctx ends:
//
//  1. It serves -addr (127.0.0.1:7331) with templ's reloading proxy in front
//     of a composer child on -app-addr (a free loopback port by default).
//  2. On a change of a watched file (.go but tests and generated code, .templ,
//     .yaml, static .css/.js) it waits for 100ms of quiet, runs templ generate
//     on the changed .templ files (production output, so the committed
//     *_templ.go stay current), builds ./cmd/composer to a new binary, stops
//     the running child and starts the new one.
//  3. When the child answers /healthz, every open page reloads. When the build
//     fails or the child exits at start (a fragment's Spec panics in init, a
//     bad site.yaml), every page shows the output instead, and reloads again
//     once a later change fixes it.
//
// It stops its child, by the PID it started, when it returns.
func devCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7331", "address of the reloading proxy, the one to open in the browser (loopback only)")
	appAddr := fs.String("app-addr", "127.0.0.1:0", "address of the composer behind it (loopback only; port 0: a free port)")
	config := fs.String("config", "site.yaml", "site configuration passed to the composer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, a := range []string{*addr, *appAddr} {
		if err := checkLoopback(a); err != nil {
			return err
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	app, err := resolvePort(*appAddr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "broadsheet-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := &devServer{
		root:    root,
		tmp:     tmp,
		appAddr: app,
		// The explorer links each fragment to dev mode's source viewer.
		childArgs: append([]string{"-addr", app, "-config", *config, "-source-url", "/_dev/source/"}, fs.Args()...),
		out:       stdout,
		errOut:    stderr,
		templ:     templBinary(root),
	}
	front, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	host, port, _ := net.SplitHostPort(front.Addr().String())
	portN, _ := strconv.Atoi(port)
	d.proxy = proxy.New(log, host, portN, &url.URL{Scheme: "http", Host: app})
	hs := &http.Server{Handler: d, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(front) }()
	defer hs.Close()
	defer d.stopChild()

	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := watchTree(w, root); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "dev: open http://%s/ (fragment explorer: http://%s/_/fragments); composer on %s; watching %s\n", front.Addr(), front.Addr(), app, root)
	d.cycle(ctx, nil)

	changed := map[string]bool{}
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "dev: stopping")
			return nil
		case err := <-w.Errors:
			fmt.Fprintln(stderr, "dev: watch:", err)
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
			quiet.Reset(100 * time.Millisecond)
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

// devServer is the state of the development loop. Its fields after proxy are
// guarded by mu.
type devServer struct {
	root, tmp, appAddr string
	childArgs          []string
	out, errOut        io.Writer
	templ              []string // the command that runs templ
	proxy              *proxy.Handler

	mu       sync.Mutex
	builds   int    // builds started
	serving  int    // builds that started serving
	failure  string // what the browser is shown instead of the site, if any
	detail   string
	child    *exec.Cmd
	exited   chan struct{} // closed when child has exited
	stopping bool
	tail     *tailBuffer
	readyAt  time.Time
}

// cycle regenerates, rebuilds and restarts after files changed (all files
// when files is nil), then reloads the browsers.
func (d *devServer) cycle(ctx context.Context, files []string) {
	start := time.Now()
	if files != nil {
		rel := make([]string, len(files))
		for i, f := range files {
			rel[i], _ = filepath.Rel(d.root, f)
		}
		if len(rel) > 4 {
			rel = append(rel[:4], fmt.Sprintf("and %d more", len(rel)-4))
		}
		fmt.Fprintf(d.out, "dev: changed %s\n", strings.Join(rel, ", "))
	}
	if out, err := d.generate(files); err != nil {
		d.fail("templ generate failed", out)
		return
	}
	d.mu.Lock()
	d.builds++
	bin := filepath.Join(d.tmp, fmt.Sprintf("composer-%d", d.builds))
	d.mu.Unlock()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/composer")
	build.Dir = d.root
	if out, err := build.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return
		}
		d.fail("go build ./cmd/composer failed", string(out)+err.Error())
		return
	}
	built := time.Since(start)
	d.stopChild()
	if err := d.startChild(bin); err != nil {
		d.fail("the composer did not start", err.Error())
		return
	}
	if err := d.waitHealthy(ctx, 20*time.Second); err != nil {
		d.mu.Lock()
		tail := d.tail
		d.mu.Unlock()
		d.fail("the composer did not start", tail.String()+"\n"+err.Error())
		return
	}
	d.mu.Lock()
	d.failure, d.detail = "", ""
	d.readyAt = time.Now()
	d.serving++
	d.mu.Unlock()
	fmt.Fprintf(d.out, "dev: ready in %v (build %v)\n", time.Since(start).Round(time.Millisecond), built.Round(time.Millisecond))
	d.proxy.SendSSE("message", "reload")
}

// fail shows title and output in every browser until the next good cycle.
func (d *devServer) fail(title, output string) {
	d.mu.Lock()
	d.failure, d.detail = title, output
	d.mu.Unlock()
	fmt.Fprintf(d.errOut, "dev: %s:\n%s\n", title, output)
	d.proxy.SendSSE("message", "reload")
}

// generate runs templ generate on the changed .templ files (every file when
// files is nil) and removes the generated code of deleted ones.
func (d *devServer) generate(files []string) (string, error) {
	var out bytes.Buffer
	run := func(args ...string) error {
		cmd := exec.Command(d.templ[0], append(slices.Clone(d.templ[1:]), args...)...)
		cmd.Dir = d.root
		cmd.Stdout, cmd.Stderr = &out, &out
		return cmd.Run()
	}
	var templs []string
	for _, f := range files {
		if strings.HasSuffix(f, ".templ") {
			templs = append(templs, f)
		}
	}
	if files == nil || len(templs) > 4 {
		// One run over the tree beats a start-up per file.
		return out.String(), run("generate", "-log-level", "warn")
	}
	for _, f := range templs {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			_ = os.Remove(strings.TrimSuffix(f, ".templ") + "_templ.go")
			continue
		}
		if err := run("generate", "-log-level", "warn", "-f", f); err != nil {
			return out.String(), err
		}
	}
	return out.String(), nil
}

func (d *devServer) startChild(bin string) error {
	cmd := exec.Command(bin, d.childArgs...)
	cmd.Dir = d.root
	tail := &tailBuffer{max: 32 << 10}
	cmd.Stdout = io.MultiWriter(d.out, tail)
	cmd.Stderr = io.MultiWriter(d.errOut, tail)
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	d.mu.Lock()
	d.child, d.exited, d.tail, d.stopping = cmd, exited, tail, false
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		close(exited)
		d.mu.Lock()
		unexpected := d.child == cmd && !d.stopping
		ready := !d.readyAt.IsZero()
		d.mu.Unlock()
		if unexpected && ready {
			d.fail("the composer exited", tail.String()+"\n"+err.Error())
		}
	}()
	return nil
}

// stopChild stops the running composer, if any: SIGTERM to the PID it
// started, then SIGKILL after 3s.
func (d *devServer) stopChild() {
	d.mu.Lock()
	cmd, exited := d.child, d.exited
	d.stopping = true
	d.readyAt = time.Time{}
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	if path := cmd.Path; strings.HasPrefix(path, d.tmp) {
		_ = os.Remove(path)
	}
}

func (d *devServer) waitHealthy(ctx context.Context, limit time.Duration) error {
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("it exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		resp, err := client.Get("http://" + d.appAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("no answer from http://%s/healthz within %v", d.appAddr, limit)
}

// ServeHTTP serves the reload script and events, /_dev/status,
// /_dev/source/ (see serveSource), the failure
// page while there is a failure, and otherwise the site through the proxy.
func (d *devServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	failure, detail, builds, serving := d.failure, d.detail, d.builds, d.serving
	d.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/_templ/"):
		d.proxy.ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, "/_dev/source/"):
		d.serveSource(w, r)
	case r.URL.Path == "/_dev/status":
		w.Header().Set("Content-Type", "application/json")
		// ok: the latest build is serving.
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ok": failure == "" && serving > 0 && serving == builds, "failure": failure, "detail": detail,
			"builds": builds, "serving": serving,
		})
	case failure != "" && !strings.HasPrefix(r.URL.Path, "/static/"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, failurePage, html.EscapeString(failure), html.EscapeString(failure), html.EscapeString(detail))
	default:
		d.proxy.ServeHTTP(w, r)
	}
}

// serveSource serves a .go or .templ file of the tree as text, so that the
// explorer can link a fragment to its source in dev mode:
// /_dev/source/fragments/weather.go. Nothing outside the module, hidden or of
// another kind is served.
func (d *devServer) serveSource(w http.ResponseWriter, r *http.Request) {
	rel := filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/_dev/source/"))
	if !filepath.IsLocal(rel) || (filepath.Ext(rel) != ".go" && filepath.Ext(rel) != ".templ") ||
		slices.ContainsFunc(strings.Split(rel, string(filepath.Separator)), func(s string) bool { return strings.HasPrefix(s, ".") }) {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(d.root, rel))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(data)
}

const failurePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dev: %s</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#222}h1{color:#b00020;font-size:1.3rem}pre{background:#fff4f4;border-left:4px solid #b00020;padding:1rem;overflow:auto;font:13px/1.45 ui-monospace,monospace;white-space:pre-wrap}</style>
</head><body>
<h1>%s</h1>
<pre>%s</pre>
<p>Fix it and save: this page reloads by itself (broadsheet dev).</p>
<script src="/_templ/reload/script.js"></script>
</body></html>
`

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

// resolvePort replaces port 0 with a free port, so that the proxy's target
// stays the same across restarts.
func resolvePort(addr string) (string, error) {
	if _, port, _ := net.SplitHostPort(addr); port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
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
