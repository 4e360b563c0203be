package server

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSite is the site of the server's tests: fragment hello on page /
// of layout "page", with a flag of its own (-greeting).
func testSite(greeting *string) Site {
	var reg composer.Registry
	reg.Register(composer.Spec{Name: "hello", Defaults: composer.Settings{Timeout: time.Second, Fresh: time.Minute},
		Render: func(context.Context, composer.Params) (templ.Component, error) {
			return templ.Raw(`<p class="hello">` + *greeting + `</p>`), nil
		}})
	page := func(v *composer.View) templ.Component {
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			io.WriteString(w, "<!doctype html><html><head><title>t</title></head><body><main><h1>t</h1>")
			if err := v.Slot("main").Render(ctx, w); err != nil {
				return err
			}
			_, err := io.WriteString(w, "</main></body></html>")
			return err
		})
	}
	return Site{
		Name:      "test",
		Fragments: reg.All(),
		Layouts:   map[string]composer.Layout{"page": page},
		Slots:     map[string][]string{"page": {"main"}},
		Config:    []byte("site: {explorer: public}\npages:\n  - {name: home, path: /, layout: page, includes: [{fragment: hello, slot: main}]}\n"),
		Flags:     func(fs *flag.FlagSet) { fs.StringVar(greeting, "greeting", "hello", "what hello says") },
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	var greeting string
	site := testSite(&greeting)
	t.Setenv("BROADSHEET_ADDR", "127.0.0.1:9999")
	t.Setenv("BROADSHEET_GREETING", "hi")
	t.Setenv("BROADSHEET_L1_MB", "7")
	o, err := parseFlags(site, []string{"-l1-mb", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:9999" || greeting != "hi" {
		t.Errorf("addr %q, the site's greeting %q: want the environment's", o.addr, greeting)
	}
	if o.l1MB != 3 {
		t.Errorf("l1-mb = %v: the command line must win over the environment", o.l1MB)
	}
	// -healthcheck turns the server into a probe: never from the
	// environment (a container's environment is the server's too).
	t.Setenv("BROADSHEET_HEALTHCHECK", "true")
	if o, err := parseFlags(site, nil); err != nil || o.healthcheck {
		t.Errorf("BROADSHEET_HEALTHCHECK set -healthcheck (%v); it is for the command line only", err)
	}
	t.Setenv("BROADSHEET_L1_MB", "lots")
	if _, err := parseFlags(site, nil); err == nil || !strings.Contains(err.Error(), "BROADSHEET_L1_MB") {
		t.Errorf("a bad environment value must be an error naming the variable, got %v", err)
	}
}

// TestRunServesASite runs a site of the tests' own through Run, as a
// site's main does: its page, its flag, the explorer and /readyz; then it
// stops when its context ends.
func TestRunServesASite(t *testing.T) {
	var greeting string
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, testSite(&greeting), []string{"-addr", addr, "-greeting", "bonjour", "-log-level", "error", "-drain", "0"})
	}()
	waitReady(t, addr, done)
	for path, want := range map[string]string{"/": `<p class="hello">bonjour</p>`, "/_/fragments": "hello", "/readyz": ""} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, want 200 with %q:\n%.300s", path, res.StatusCode, want, b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after its context ended: %v", err)
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitReady polls addr's /readyz until it answers 200, failing the test if
// Run returns first or it waits too long (wait.Patience).
func waitReady(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	wait.For(t, addr+" to be ready", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned before serving: %v", err)
		default:
		}
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}

func TestBadConfigFailsAtStartNamingLineAndField(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "site.yaml")
	os.WriteFile(cfg, []byte("site:\n  budget: 250ms\npages:\n  - name: front\n    path: /\n    layout: front\n    includes:\n      - {fragment: nosuch, slot: main}\n"), 0o644)
	var greeting string
	err := Run(context.Background(), testSite(&greeting), []string{"-addr", "127.0.0.1:0", "-config", cfg})
	if err == nil {
		t.Fatal("composer started on an invalid configuration")
	}
	if msg := err.Error(); !strings.Contains(msg, "site.yaml:8:") || !strings.Contains(msg, "pages[0].includes[0].fragment") {
		t.Fatalf("error does not name the file, line and field: %v", err)
	}
}

// composeFile is what the tests read of docker-compose.yml.
type composeFile struct {
	Services map[string]struct {
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

func readComposeFile(t *testing.T) *composeFile {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// TestComposeFileMatchesFlags keeps docker-compose.yml honest without
// Docker: every BROADSHEET_ variable it sets must be a flag of the
// composer, and the composer must wait for a healthy Redis.
func TestComposeFileMatchesFlags(t *testing.T) {
	f := readComposeFile(t)
	c, ok := f.Services["composer"]
	if !ok {
		t.Fatal("no composer service")
	}
	var greeting string
	site := testSite(&greeting)
	o, err := parseFlags(site, nil)
	if err != nil || o == nil {
		t.Fatal(err)
	}
	for name, val := range c.Environment {
		t.Setenv(name, val)
	}
	if _, err := parseFlags(site, nil); err != nil {
		t.Errorf("docker-compose.yml environment does not parse: %v", err)
	}
	known := map[string]bool{}
	for _, n := range flagNames(site) {
		known["BROADSHEET_"+strings.ToUpper(strings.ReplaceAll(n, "-", "_"))] = true
	}
	for name := range c.Environment {
		if !known[name] {
			t.Errorf("docker-compose.yml sets %s, which is no flag of the composer", name)
		}
	}
	if f.Services["redis"].Healthcheck.Test == nil || c.DependsOn["redis"].Condition != "service_healthy" {
		t.Error("the composer must depend on a healthy Redis")
	}

	// The scale-out profile: every composer-N maps to flags too, its Redis
	// URL is one NewClient reads, and it waits for the cluster to be made.
	scaled := 0
	for name, svc := range f.Services {
		if !strings.HasPrefix(name, "composer-") {
			continue
		}
		scaled++
		for k := range svc.Environment {
			if !known[k] {
				t.Errorf("docker-compose.yml: %s sets %s, which is no flag of the composer", name, k)
			}
		}
		client, err := redisstore.NewClient(svc.Environment["BROADSHEET_REDIS"])
		if err != nil {
			t.Errorf("docker-compose.yml: %s: BROADSHEET_REDIS: %v", name, err)
		} else {
			if _, ok := client.(*redis.ClusterClient); !ok {
				t.Errorf("docker-compose.yml: %s: BROADSHEET_REDIS is no Redis Cluster URL", name)
			}
			client.Close()
		}
		if svc.DependsOn["redis-cluster-init"].Condition != "service_completed_successfully" {
			t.Errorf("docker-compose.yml: %s must wait for redis-cluster-init to complete", name)
		}
		if f.Services["nginx"].DependsOn[name].Condition != "service_healthy" {
			t.Errorf("docker-compose.yml: nginx must wait for %s to be healthy", name)
		}
	}
	if scaled < 2 {
		t.Errorf("docker-compose.yml: %d composer-N services in the scale profile, want several", scaled)
	}
}

// TestComposeFileMounts: every composer service mounts the directory of
// its configuration, not the file (a save by rename would never be seen
// through a file mount), and checks its health with its own binary.
func TestComposeFileMounts(t *testing.T) {
	f := readComposeFile(t)
	for name, svc := range f.Services {
		if name != "composer" && !strings.HasPrefix(name, "composer-") {
			continue
		}
		cfg := svc.Environment["BROADSHEET_CONFIG"]
		mounted := false
		for _, v := range svc.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			if dst == cfg {
				t.Errorf("%s mounts %s as a single file: mount its directory", name, cfg)
			}
			if dst == filepath.Dir(cfg) {
				mounted = true
				if _, err := os.Stat(filepath.Join("..", src, filepath.Base(cfg))); err != nil {
					t.Errorf("%s mounts %s on %s, which has no %s: %v", name, src, dst, filepath.Base(cfg), err)
				}
			}
		}
		if !mounted {
			t.Errorf("%s does not mount the directory of %s", name, cfg)
		}
		// The probe asks -addr, which it reads from the container's
		// BROADSHEET_ADDR like the server.
		if hc := svc.Healthcheck.Test; !slices.Equal(hc, []string{"CMD", "/usr/local/bin/composer", "-healthcheck"}) {
			t.Errorf("%s: healthcheck %q, want [CMD /usr/local/bin/composer -healthcheck]", name, hc)
		}
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "artifacts/"} {
		if !slices.Contains(strings.Fields(string(ignore)), want) {
			t.Errorf(".dockerignore does not leave %s out of the build context", want)
		}
	}
}

// TestHealthcheck: -healthcheck exits 0 (run returns nil) only when /readyz
// at -addr answers 200, without starting a server.
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	var greeting string
	run := func(args ...string) error { return Run(context.Background(), testSite(&greeting), args) }
	if err := run("-healthcheck", "-addr", addr); err != nil {
		t.Errorf("ready: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := run("-healthcheck", "-addr", addr); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("not ready: %v, want an error naming the 503", err)
	}
	ts.Close()
	if err := run("-healthcheck", "-addr", addr); err == nil {
		t.Errorf("nothing listening: no error")
	}
}

// TestNotModifiedCountedAs304: a page answered 304 to its ETag is counted
// under status 304 in broadsheet_page_duration_seconds, not as a 200.
func TestNotModifiedCountedAs304(t *testing.T) {
	var greeting string
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, testSite(&greeting), []string{"-addr", addr, "-log-level", "error", "-drain", "0"})
	}()
	waitReady(t, addr, done)
	get := func(path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}
	// The first page makes its include: no ETag until it is cached.
	var etag string
	wait.For(t, "the page to carry an ETag", func() bool {
		res, _ := get("/")
		etag = res.Header.Get("ETag")
		return res.StatusCode == 200 && etag != ""
	})
	for range 2 {
		if res, body := get("/", "If-None-Match", etag); res.StatusCode != http.StatusNotModified || body != "" {
			t.Fatalf("GET / If-None-Match %s: %d, %d bytes", etag, res.StatusCode, len(body))
		}
	}
	_, m := get("/metrics")
	for _, want := range []string{`broadsheet_page_duration_seconds_count{page="home",status="200"} `, `broadsheet_page_duration_seconds_count{page="home",status="304"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after its context ended: %v", err)
	}
}

// TestRunFailsWithRedis: a Run that fails after its events reader started
// (here its address is taken, found when it listens, its last step)
// returns the error rather than waiting for a reader nothing stops.
func TestRunFailsWithRedis(t *testing.T) {
	rs := redistest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var greeting string
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), testSite(&greeting), []string{"-addr", ln.Addr().String(), "-redis", rs.URL(), "-log-level", "error", "-drain", "0"})
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("Run = %v, want the listener's error", err)
		}
	case <-time.After(30 * time.Second): // a hang, not a slow machine
		t.Fatal("Run did not return after failing to listen")
	}
}
