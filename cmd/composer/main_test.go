package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/composer/redisstore"
)

func TestEnvironmentSetsFlags(t *testing.T) {
	t.Setenv("BROADSHEET_ADDR", "127.0.0.1:9999")
	t.Setenv("BROADSHEET_FEED_LATENCY", "7ms")
	o, err := parseFlags([]string{"-feed-latency", "3ms"})
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:9999" {
		t.Errorf("addr = %q, want the environment's", o.addr)
	}
	if o.feedLatency.String() != "3ms" {
		t.Errorf("feed latency = %v: the command line must win over the environment", o.feedLatency)
	}
	// -healthcheck turns the server into a probe: never from the
	// environment (a container's environment is the server's too).
	t.Setenv("BROADSHEET_HEALTHCHECK", "true")
	if o, err := parseFlags(nil); err != nil || o.healthcheck {
		t.Errorf("BROADSHEET_HEALTHCHECK set -healthcheck (%v); it is for the command line only", err)
	}
	t.Setenv("BROADSHEET_L1_MB", "lots")
	if _, err := parseFlags(nil); err == nil || !strings.Contains(err.Error(), "BROADSHEET_L1_MB") {
		t.Errorf("a bad environment value must be an error naming the variable, got %v", err)
	}
}

func TestBadConfigFailsAtStartNamingLineAndField(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "site.yaml")
	os.WriteFile(cfg, []byte("site:\n  budget: 250ms\npages:\n  - name: front\n    path: /\n    layout: front\n    includes:\n      - {fragment: nosuch, slot: main}\n"), 0o644)
	err := run([]string{"-addr", "127.0.0.1:0", "-config", cfg})
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
	b, err := os.ReadFile("../../docker-compose.yml")
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
	o, err := parseFlags(nil)
	if err != nil || o == nil {
		t.Fatal(err)
	}
	for name, val := range c.Environment {
		t.Setenv(name, val)
	}
	if _, err := parseFlags(nil); err != nil {
		t.Errorf("docker-compose.yml environment does not parse: %v", err)
	}
	known := map[string]bool{}
	for _, n := range flagNames() {
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
				if _, err := os.Stat(filepath.Join("../..", src, filepath.Base(cfg))); err != nil {
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
	ignore, err := os.ReadFile("../../.dockerignore")
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
	if err := run([]string{"-healthcheck", "-addr", addr}); err != nil {
		t.Errorf("ready: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := run([]string{"-healthcheck", "-addr", addr}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("not ready: %v, want an error naming the 503", err)
	}
	ts.Close()
	if err := run([]string{"-healthcheck", "-addr", addr}); err == nil {
		t.Errorf("nothing listening: no error")
	}
}
