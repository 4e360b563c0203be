package main

import (
	"os"
	"path/filepath"
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

// TestComposeFileMatchesFlags keeps docker-compose.yml honest without
// Docker: every BROADSHEET_ variable it sets must be a flag of the
// composer, and the composer must wait for a healthy Redis.
func TestComposeFileMatchesFlags(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Healthcheck map[string]any    `yaml:"healthcheck"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
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
	if f.Services["redis"].Healthcheck == nil || c.DependsOn["redis"].Condition != "service_healthy" {
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
	}
	if scaled < 2 {
		t.Errorf("docker-compose.yml: %d composer-N services in the scale profile, want several", scaled)
	}
}
