package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
)

func TestPlanSiteRefuses(t *testing.T) {
	checkout, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, module, want string }{
		{filepath.Join(t.TempDir(), "news"), "", "malformed module path"},
		{filepath.Join(t.TempDir(), "news"), "Example.com/News!", "malformed module path"},
		{filepath.Join(t.TempDir(), "news"), "github.com/broadsheet/broadsheet/news", "Broadsheet's own"},
		{filepath.Join(checkout, "news"), "example.com/news", "inside the Broadsheet repository"},
		{full, "example.com/news", "exists and is not empty"},
	} {
		if _, err := planSite(checkout, c.dir, c.module); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("planSite(%s, %q) = %v, want an error with %q", c.dir, c.module, err, c.want)
		}
	}
	if d, err := planSite(checkout, filepath.Join(t.TempDir(), "news"), "example.com/news"); err != nil || d.Name != "news" || d.Checkout != checkout {
		t.Errorf("planSite: %+v, %v", d, err)
	}
}

// TestNewSite makes a site of its own with `broadsheet new site`, outside
// the repository, and checks what its README promises: go vet and go test
// pass in it; its binary serves its page, the explorer, live tuning,
// events and the Redis tier (a real redis-server); dev mode serves an edit
// of a fragment's text without a build and an edit of its Go code with
// one; and go tool broadsheet scaffolds a fragment there, whose suggested
// page broadsheet check passes.
func TestNewSite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a site module (~1 min)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	checkout, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "news")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// Everything the site needs is in the module cache already.
	env := append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off")
	run := func(in string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = in, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	run(checkout, "go", "run", "./cmd/broadsheet", "new", "site", dir, "-module", "example.com/news")
	for _, f := range []string{"go.mod", "go.sum", "main.go", "site.yaml", "README.md", "fragments/greeting.go",
		"fragments/greeting_templ.go", "fragments/testdata/greeting.golden.html", "layouts/page_templ.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("new site did not write %s: %v", f, err)
		}
	}
	mod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.Contains(string(mod), "replace github.com/broadsheet/broadsheet => "+checkout) {
		t.Errorf("go.mod does not replace Broadsheet with the checkout:\n%s", mod)
	}
	run(dir, "go", "vet", "./...")
	if out := run(dir, "go", "test", "-count=1", "./..."); !strings.Contains(out, "ok  \texample.com/news/fragments") {
		t.Errorf("go test ./... in the site:\n%s", out)
	}

	// Its binary, with Broadsheet's flags: Redis, the admin token.
	bin := filepath.Join(dir, "bin", "news")
	run(dir, "go", "build", "-o", bin, ".")
	rs := redistest.Start(t)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(bin, "-addr", addr, "-redis", "redis://"+rs.Addr(), "-admin-token", "t0ken", "-drain", "0", "-config", "site.yaml")
	srv.Dir = dir
	log := &tailBuffer{max: 1 << 20} // read while the server writes
	srv.Stdout, srv.Stderr = log, log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
	})
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t0ken")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	defer func() {
		if t.Failed() {
			t.Logf("the site's log:\n%s", log.String())
		}
	}()
	wait.Within(t, time.Minute, "the site to be ready", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("the site exited: %v\n%s", err, log.String())
		default:
		}
		code, _ := do("GET", "/readyz", "")
		return code == 200
	})
	for _, c := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/", "", 200, "<dd>world</dd>"},
		{"GET", "/hello/ada?debug=1", "", 200, `data-fragment="greeting"`},
		{"GET", "/hello/ADA", "", 404, ""},
		{"GET", "/_/fragments", "", 200, `id="f-greeting"`},
		{"GET", "/_/admin", "", 200, "Live tuning"},
		{"POST", "/_/events", `{"topic": "greeting.updated", "params": {"name": "ada"}}`, 202, ""},
	} {
		if code, body := do(c.method, c.path, c.body); code != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d, want %d with %q:\n%.400s", c.method, c.path, code, c.status, c.want, body)
		}
	}
	if !strings.Contains(log.String(), "then Redis") {
		t.Errorf("the site did not use its Redis tier:\n%s", log.String())
	}

	devLoop(t, ctx, dir, env)

	// The author's loop in the site: a new fragment, the page the scaffold
	// suggests, broadsheet check.
	out := run(dir, "go", "tool", "broadsheet", "new", "fragment", "traffic", "-param", "city=london")
	plan, _ := planFragment("traffic", []string{"city=london"}, "")
	snippet := pageSnippet(&project{}, plan)
	if !strings.Contains(out, snippet) {
		t.Fatalf("the scaffold does not suggest the site's page\n%s\n%s", snippet, out)
	}
	f, err := os.OpenFile(filepath.Join(dir, "site.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("\n" + snippet)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
	if out := run(dir, "go", "tool", "broadsheet", "check"); !strings.Contains(out, "check: all good") {
		t.Errorf("broadsheet check in the site:\n%s", out)
	}
}

// devLoop runs the site's broadsheet dev in dir and edits its fragment: a
// change of the markup's text is served with no new binary, a change of
// its Go code with one.
func devLoop(t *testing.T, ctx context.Context, dir string, env []string) {
	t.Helper()
	tool := filepath.Join(dir, "bin", "broadsheet")
	build := exec.CommandContext(ctx, "go", "build", "-o", tool, "github.com/broadsheet/broadsheet/cmd/broadsheet")
	build.Dir, build.Env = dir, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the site's broadsheet: %v\n%s", err, out)
	}
	// The edits are undone once dev mode has stopped (check regenerates
	// the templ code).
	for _, f := range []string{"fragments/greeting.templ", "fragments/greeting.go"} {
		path := filepath.Join(dir, f)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(path, orig, 0o644); err != nil {
				t.Error(err)
			}
		}()
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dev := exec.Command(tool, "dev", "-addr", addr)
	dev.Dir, dev.Env = dir, env
	log := &tailBuffer{max: 1 << 20}
	dev.Stdout, dev.Stderr = log, log
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	defer func() {
		_ = dev.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = dev.Process.Kill()
			<-exited
		}
	}()
	type status struct {
		OK       bool `json:"ok"`
		Binaries int  `json:"binaries"`
	}
	// until polls dev mode until page shows want and its status is ok.
	until := func(page, want string) status {
		t.Helper()
		defer func() {
			if t.Failed() {
				t.Logf("dev mode's log:\n%s", log.String())
			}
		}()
		var st status
		wait.Within(t, 3*time.Minute, fmt.Sprintf("dev mode to serve %q on %s", want, page), func() bool {
			select {
			case err := <-exited:
				t.Fatalf("dev mode exited: %v\n%s", err, log.String())
			default:
			}
			st = status{}
			if res, err := http.Get("http://" + addr + "/_dev/status"); err == nil {
				_ = json.NewDecoder(res.Body).Decode(&st)
				res.Body.Close()
			}
			if !st.OK {
				return false
			}
			res, err := http.Get("http://" + addr + page)
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			return strings.Contains(string(b), want)
		})
		return st
	}
	edit := func(file, old, new string) {
		t.Helper()
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), old) {
			t.Fatalf("%s lacks %q: %v", file, old, err)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	first := until("/", "<dd>world</dd>")
	edit("fragments/greeting.templ", "<dt>name</dt>", "<dt>to</dt>")
	if st := until("/", "<dt>to</dt>"); st.Binaries != first.Binaries {
		t.Errorf("a change of text alone built %d binaries", st.Binaries-first.Binaries)
	}
	edit("fragments/greeting.go", `greetingView(p.Get("name"))`, `greetingView(p.Get("name") + "!")`)
	if st := until("/", "<dd>world!</dd>"); st.Binaries != first.Binaries+1 {
		t.Errorf("a change of Go code built %d binaries, want 1", st.Binaries-first.Binaries)
	}
}
