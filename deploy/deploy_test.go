package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "broadsheet-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

// composerBin builds ./cmd/composer once for the package's tests.
func composerBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "composer")
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var log strings.Builder
		if err := harness.BuildComposer(ctx, "..", bin, &log); err != nil {
			buildErr = fmt.Errorf("%w\n%s", err, log.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// need returns the path of a tool the test needs: a failure in CI (where
// scripts/test.sh installs it), a skip elsewhere.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no %s: scripts/test.sh installs it in CI", tool)
		}
		t.Skipf("no %s (./scripts/test.sh installs it)", tool)
	}
	return p
}

// composerFlags lists the composer's flags, as its -h prints them.
func composerFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, _ := exec.Command(composerBin(t), "-h").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["addr"] || !flags["drain"] {
		t.Fatalf("composer -h lists no -addr or -drain:\n%s", out)
	}
	return flags
}

// flagName is the flag an environment variable sets ("" for none).
func flagName(env string) string {
	name, ok := strings.CutPrefix(env, "BROADSHEET_")
	if !ok {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestKubernetesBase keeps the kustomize base true to the composer (the
// test script renders it with kustomize): every BROADSHEET_ variable and
// argument it sets is a flag, the probes are /readyz and /healthz on the
// served port, the grace period outlasts the drain and the shutdown, and
// its site.yaml validates against the demo's fragments and layouts.
func TestKubernetesBase(t *testing.T) {
	flags := composerFlags(t)
	var kust struct {
		Resources          []string
		ConfigMapGenerator []struct {
			Name     string
			Literals []string
			Files    []string
		} `yaml:"configMapGenerator"`
	}
	readYAML(t, "kubernetes/kustomization.yaml", &kust)
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
			t.Errorf("kustomization.yaml: resource %s: %v", r, err)
		}
	}
	var drain time.Duration
	for _, g := range kust.ConfigMapGenerator {
		for _, l := range g.Literals {
			k, v, _ := strings.Cut(l, "=")
			if !flags[flagName(k)] {
				t.Errorf("kustomization.yaml: %s sets %s, which is no flag of the composer", g.Name, k)
			}
			if k == "BROADSHEET_DRAIN" {
				drain, _ = time.ParseDuration(v)
			}
		}
		for _, f := range g.Files {
			if f != "site.yaml" {
				continue
			}
			reg := config.Registry{Specs: fragments.All(), Layouts: templates.Layouts(), Slots: templates.LayoutSlots()}
			if _, err := config.Load(filepath.Join("kubernetes", f), reg); err != nil {
				t.Errorf("kubernetes/site.yaml does not validate: %v", err)
			}
		}
	}
	type probe struct {
		HTTPGet struct {
			Path string
			Port string
		} `yaml:"httpGet"`
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Grace      int `yaml:"terminationGracePeriodSeconds"`
					Containers []struct {
						Args  []string
						Env   []struct{ Name string }
						Ports []struct {
							Name          string
							ContainerPort int `yaml:"containerPort"`
						}
						Startup   probe `yaml:"startupProbe"`
						Readiness probe `yaml:"readinessProbe"`
						Liveness  probe `yaml:"livenessProbe"`
					}
				}
			}
		}
	}
	readYAML(t, "kubernetes/deployment.yaml", &dep)
	ps := dep.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers, want the composer", len(ps.Containers))
	}
	c := ps.Containers[0]
	for _, a := range c.Args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !flags[name] {
			t.Errorf("deployment.yaml: argument %s is no flag of the composer", a)
		}
		if name == "addr" && !strings.HasSuffix(a, ":8080") {
			t.Errorf("deployment.yaml: %s, want the port named http (8080)", a)
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "BROADSHEET_") && !flags[flagName(e.Name)] {
			t.Errorf("deployment.yaml: %s is no flag of the composer", e.Name)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}) bool {
		return p.Name == "http" && p.ContainerPort == 8080
	}) {
		t.Errorf("deployment.yaml: no port http 8080: %+v", c.Ports)
	}
	for name, p := range map[string]probe{"startup": c.Startup, "readiness": c.Readiness, "liveness": c.Liveness} {
		want := "/readyz"
		if name == "liveness" {
			want = "/healthz"
		}
		if p.HTTPGet.Path != want || p.HTTPGet.Port != "http" {
			t.Errorf("deployment.yaml: %s probe %s on %s, want %s on http", name, p.HTTPGet.Path, p.HTTPGet.Port, want)
		}
	}
	if drain == 0 || time.Duration(ps.Grace)*time.Second < drain+15*time.Second {
		t.Errorf("terminationGracePeriodSeconds %d: want room for the drain (%v), the graceful shutdown (10 s) and the trace flush (5 s)", ps.Grace, drain)
	}
}

// TestComposeObserveProfile: the observe profile's services mount files
// that exist, and Prometheus's configuration and rules pass promtool.
func TestComposeObserveProfile(t *testing.T) {
	var f struct {
		Services map[string]struct {
			Profiles []string
			Volumes  []string
		}
	}
	readYAML(t, "../docker-compose.yml", &f)
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := f.Services[name]
		if !ok || !slices.Contains(s.Profiles, "observe") {
			t.Errorf("docker-compose.yml: no %s in the observe profile", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if _, err := os.Stat(filepath.Join("..", src)); err != nil {
				t.Errorf("docker-compose.yml: %s mounts %s: %v", name, src, err)
			}
		}
	}
	promtool := need(t, "promtool")
	for _, args := range [][]string{
		{"check", "config", "prometheus/prometheus.yml"},
		{"test", "rules", "prometheus/alerts_test.yml"},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusQueriesReturnSeries runs a real Prometheus on loopback,
// scraping a real composer every second while it serves a short, bounded
// load of the demo's pages — with Redis, a remote fragment service, one
// that fails (its breaker opens, its city page is a 503) and fragments
// that hang now and then — and requires every query of the Grafana
// dashboard and every alert expression (its comparisons made bool, so
// that it returns series whether or not it fires) to parse and return
// series, and every rule to evaluate without error.
func TestPrometheusQueriesReturnSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a composer, Redis and Prometheus (-short)")
	}
	prometheus := need(t, "prometheus")
	redisBin := need(t, "redis-server")
	bin := composerBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()

	rp, rc, err := harness.StartRedis(ctx, redisBin, dir, filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Stop()
	defer rc.Close()

	// Remote fragments: score served by a fragment service, weather by
	// one that always fails.
	good := httptest.NewServer(remote.Handler(fragments.All(), remote.ServerOptions{Logger: slog.New(slog.DiscardHandler)}))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer bad.Close()
	site, err := os.ReadFile("../site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	site, err = remoteFragments(site, map[string]string{
		"score":   good.URL + "/fragments/score?match={match}",
		"weather": bad.URL + "/fragments/weather?city={city}",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(cfg, site, 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	aport, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	admin := fmt.Sprintf("127.0.0.1:%d", aport)
	cp, err := harness.Start("composer", bin, []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-admin-addr", admin,
		"-config", cfg, "-redis", "redis://" + rc.Options().Addr + "/0", "-demo-league", "0", "-drain", "0",
		"-feed-hang-every", "15", "-log-level", "error"}, filepath.Join(dir, "composer.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	if err := harness.WaitHTTP(ctx, cp, base+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}

	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	pport, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	papi := fmt.Sprintf("http://127.0.0.1:%d", pport)
	pcfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(pcfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: broadsheet
    static_configs:
      - targets: [%q]
`, rules, admin)), 0o644); err != nil {
		t.Fatal(err)
	}
	pp, err := harness.Start("prometheus", prometheus, []string{"--config.file=" + pcfg, "--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
		"--web.listen-address=" + strings.TrimPrefix(papi, "http://"), "--log.level=warn"}, filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer pp.Stop()
	if err := harness.WaitHTTP(ctx, pp, papi+"/-/ready", 30*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		t.Fatalf("%v\n%s", err, log)
	}

	load(ctx, t, base, []string{"/", "/sport/football/scores?size=50", "/weather/london", "/weather/paris", "/news", "/story/s003"})

	exprs := dashboardQueries(t)
	for _, a := range alertExprs(t) {
		exprs = append(exprs, asBool(a))
	}
	// Prometheus has the load's samples once the dashboard's first query,
	// a rate, returns series; then every query must.
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	var empty []string
	for {
		empty = empty[:0]
		for _, e := range exprs {
			n, err := query(ctx, client, papi, e)
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			if n == 0 {
				empty = append(empty, e)
			}
		}
		if len(empty) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Second):
		}
	}
	for _, e := range empty {
		t.Errorf("no series for %s", e)
	}
	checkRules(ctx, t, client, papi)
}

// remoteFragments makes the named fragments of site remote, at urls.
func remoteFragments(site []byte, urls map[string]string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(site, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	frags := child(root, "fragments")
	for _, name := range slices.Sorted(maps.Keys(urls)) {
		f := child(frags, name)
		f.Content = append(f.Content, scalar("remote"), &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{scalar("url"), scalar(urls[name])}})
	}
	return yaml.Marshal(&doc)
}

// child returns the mapping under key in m, added when missing.
func child(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	c := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, scalar(key), c)
	return c
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

// load sends the paths from 4 clients for 8 s, at most 3,000 requests.
func load(ctx context.Context, t *testing.T, base string, paths []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	sent, statuses := 0, map[int]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				mu.Lock()
				if sent >= 3000 {
					mu.Unlock()
					return
				}
				sent++
				mu.Unlock()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+paths[i%len(paths)], nil)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("load: %d requests, statuses %v", sent, statuses)
}

// dashboardQueries returns every query of the Grafana dashboard.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("grafana/dashboards/broadsheet.json")
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Targets []struct{ Expr string }
		Panels  []json.RawMessage
	}
	var dash struct{ Panels []json.RawMessage }
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, raw := range ps {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if len(out) < 10 {
		t.Fatalf("%d dashboard queries", len(out))
	}
	return out
}

// alertExprs returns every alert rule's expression.
func alertExprs(t *testing.T) []string {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	readYAML(t, "prometheus/alerts.yml", &f)
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	if len(out) < 6 {
		t.Fatalf("%d alert rules", len(out))
	}
	return out
}

// comparison is a comparison operator between spaces, not yet bool.
var comparison = regexp.MustCompile(`\s(==|!=|>=|<=|>|<)\s+`)

// asBool makes every comparison of expr a bool one, so that it returns
// its series, 0 or 1, instead of only those for which it holds.
func asBool(expr string) string { return comparison.ReplaceAllString(expr, " $1 bool ") }

// query runs an instant query and returns how many series it returned.
func query(ctx context.Context, client *http.Client, api, expr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          struct {
			ResultType string
			Result     []json.RawMessage
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query failed: %s", r.Error)
	}
	return len(r.Data.Result), nil
}

// checkRules requires every rule Prometheus loaded to have been evaluated
// without error.
func checkRules(ctx context.Context, t *testing.T, client *http.Client, api string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/rules", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				}
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Health != "ok" {
				t.Errorf("rule %s: health %q, %s", rule.Name, rule.Health, rule.LastError)
			}
		}
	}
	if want := len(alertExprs(t)); n != want {
		t.Errorf("Prometheus loaded %d rules, alerts.yml has %d", n, want)
	}
}
