package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPlanFragment(t *testing.T) {
	for _, c := range []struct {
		name                          string
		params                        []string
		file, fn, view, test, varName string
	}{
		{"traffic", []string{"city=london"}, "traffic", "Traffic", "trafficView", "TestTraffic", "city"},
		{"traffic-cams", []string{"road-id=m25"}, "traffic_cams", "TrafficCams", "trafficCamsView", "TestTrafficCams", "roadId"},
		{"a_b-c9", []string{"type=x"}, "a_b_c9", "ABC9", "aBC9View", "TestABC9", "typeValue"},
		{"linux", []string{"templ=x"}, "linux", "Linux", "linuxView", "TestLinux", "templValue"},
	} {
		p, err := planFragment(c.name, c.params, "")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.File != c.file || p.Func != c.fn || p.View != c.view || p.Test != c.test || p.Params[0].Var != c.varName {
			t.Errorf("%s: got %s %s %s %s %s", c.name, p.File, p.Func, p.View, p.Test, p.Params[0].Var)
		}
	}
}

func TestPlanFragmentRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		params []string
		want   string
	}{
		{"", nil, "empty"},
		{"Traffic", nil, "must start with a lowercase letter"},
		{"9lives", nil, "must start with a lowercase letter"},
		{"-x", nil, "must start with a lowercase letter"},
		{"traffic.cams", nil, "only lowercase letters"},
		{"traffic cams", nil, "only lowercase letters"},
		{"trafficé", nil, "only lowercase letters"},
		{strings.Repeat("a", 65), nil, "longer than 64 bytes"},
		{"traffic_test", nil, "would be a test file"},
		{"traffic-test", nil, "would be a test file"},
		{"traffic_templ", nil, "templ's generated code"},
		{"traffic-windows", nil, "would build only on windows"},
		{"traffic_linux_arm64", nil, "would build only on linux"},
		{"traffic-js", nil, "would build only on js"},
		{"traffic", []string{"city"}, "want name=example"},
		{"traffic", []string{"city="}, "want name=example"},
		{"traffic", []string{"City=london"}, "must start with a lowercase letter"},
		{"traffic", []string{"city=London"}, "must match the scaffold's pattern"},
		{"traffic", []string{"city=a", "city=b"}, "given twice"},
		{"traffic", []string{"road-id=a", "road_id=b"}, "clashes with another param"},
	} {
		_, err := planFragment(c.name, c.params, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("planFragment(%q, %q) = %v, want an error with %q", c.name, c.params, err, c.want)
		}
	}
}

func TestCheckClashes(t *testing.T) {
	dir := filepath.Join("..", "..", "fragments")
	registered, err := registeredNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(registered, "weather") || !slices.Contains(registered, "city-list") || slices.Contains(registered, "") {
		t.Fatalf("registeredNames(fragments) = %q", registered)
	}
	for _, c := range []struct{ name, want string }{
		{"weather", `"weather" is already registered`},
		{"city-list", `"city-list" is already registered`},
		{"city_list", `already exists`},                    // city_list.go
		{"all", "needs the Go name All, already declared"}, // registry.go
		{"every-fragment", "needs the Go name TestEveryFragment, already declared"},
		{"latest_scores", "already exists"},
	} {
		p, err := planFragment(c.name, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := checkClashes(p, dir, registered); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkClashes(%q) = %v, want an error with %q", c.name, err, c.want)
		}
	}
	// A name that maps to a registered fragment's Go name, with no file.
	p, _ := planFragment("city-list", nil, "")
	if err := checkClashes(p, t.TempDir(), []string{"city_list"}); err == nil || !strings.Contains(err.Error(), "same Go name") {
		t.Errorf("same Go name: %v", err)
	}
	// A name nothing uses yet (the test must not depend on which
	// fragments an author has added).
	free := "traffic"
	for i := 2; slices.Contains(registered, free) || fileExists(filepath.Join(dir, strings.ReplaceAll(free, "-", "_")+".go")); i++ {
		free = fmt.Sprintf("traffic%d", i)
	}
	p, _ = planFragment(free, nil, "")
	if err := checkClashes(p, dir, registered); err != nil {
		t.Errorf("%s: %v", free, err)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestScaffoldInACopy runs the scaffold in a temporary copy of the module and
// checks that its output compiles, registers, renders and passes its own test
// and the every-fragment check; that with the page it suggests added to
// site.yaml, broadsheet check (every test a new fragment or page can break)
// passes; and that a second run refuses the name.
func TestScaffoldInACopy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module in a copy (~1 min)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := copyModule(t, filepath.Join("..", ".."))
	// Generous: the copy is built from scratch, on a machine other tests
	// keep busy.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	start := time.Now()
	out, err := run("run", "./cmd/broadsheet", "new", "fragment", "traffic", "-param", "city=london", "-doc", "Traffic in a city.")
	if err != nil {
		t.Fatalf("scaffold: %v\n%s", err, out)
	}
	scaffoldOut := out
	t.Logf("scaffold with its test: %v", time.Since(start).Round(time.Millisecond))
	for _, f := range []string{"traffic.go", "traffic.templ", "traffic_templ.go", "traffic_test.go", "testdata/traffic.golden.html"} {
		if _, err := os.Stat(filepath.Join(dir, "fragments", f)); err != nil {
			t.Errorf("scaffold did not write fragments/%s: %v\n%s", f, err, out)
		}
	}
	golden, _ := os.ReadFile(filepath.Join(dir, "fragments", "testdata", "traffic.golden.html"))
	if !bytes.Contains(golden, []byte("<dd>london</dd>")) {
		t.Errorf("golden HTML lacks the example param: %s", golden)
	}
	// The page the scaffold suggests, added to site.yaml as printed.
	plan, err := planFragment("traffic", []string{"city=london"}, "")
	if err != nil {
		t.Fatal(err)
	}
	snippet := pageSnippet(&project{demo: true}, plan)
	if !strings.Contains(scaffoldOut, snippet) {
		t.Fatalf("the scaffold's output does not suggest the page\n%s\n%s", snippet, scaffoldOut)
	}
	f, err := os.OpenFile(filepath.Join(dir, "site.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n" + snippet); err != nil {
		t.Fatal(err)
	}
	f.Close()
	start = time.Now()
	out, err = run("run", "./cmd/broadsheet", "check")
	if err != nil {
		t.Fatalf("broadsheet check after scaffolding traffic and its page: %v\n%s", err, out)
	}
	t.Logf("broadsheet check: %v", time.Since(start).Round(time.Millisecond))
	for _, pkg := range []string{"fragments", "templates", "web"} {
		if want := "ok  \tgithub.com/broadsheet/broadsheet/" + pkg; !strings.Contains(out, want) {
			t.Errorf("broadsheet check did not test %s:\n%s", pkg, out)
		}
	}

	if out, err := run("run", "./cmd/broadsheet", "new", "fragment", "traffic"); err == nil || !strings.Contains(out, "already") {
		t.Errorf("a second scaffold of traffic: %v\n%s", err, out)
	}
}

// copyModule copies the module at src to a temporary directory, leaving out
// version control, build output and binaries.
func copyModule(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		name := e.Name()
		if e.IsDir() {
			if rel != "." && (strings.HasPrefix(name, ".") || name == "bin" || name == "artifacts" || name == "tmp" || name == "node_modules") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !e.Type().IsRegular() || strings.HasSuffix(name, ".test") || strings.HasSuffix(name, ".prof") {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
