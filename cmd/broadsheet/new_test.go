package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
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
	registered := registeredNames()
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
	p, _ = planFragment("traffic", nil, "")
	if err := checkClashes(p, dir, registered); err != nil {
		t.Errorf("traffic: %v", err)
	}
}

// TestScaffoldInACopy runs the scaffold in a temporary copy of the module and
// checks that its output compiles, registers, renders and passes its own test
// and the every-fragment check, and that a second run refuses the name.
func TestScaffoldInACopy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module in a copy (~10s)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := copyModule(t, filepath.Join("..", ".."))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	if out, err := run("vet", "./fragments/"); err != nil {
		t.Fatalf("go vet: %v\n%s", err, out)
	}
	out, err = run("test", "-count=1", "-v", "-run", "Traffic|CheckAll|Every", "./fragments/")
	if err != nil {
		t.Fatalf("go test: %v\n%s", err, out)
	}
	for _, want := range []string{"--- PASS: TestTraffic ", "--- PASS: TestEveryFragment/traffic ", "--- PASS: TestEveryFragmentFuncIsRegistered"} {
		if !strings.Contains(out, want) {
			t.Errorf("go test output lacks %q:\n%s", want, out)
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
