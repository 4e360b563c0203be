package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"
)

func TestPatchTTLs(t *testing.T) {
	site := "site:\n  budget: 250ms\nfragments:\n  score:\n    fallback: '-'\n    stale: 5m\npages: []\n"
	out, err := PatchTTLs([]byte(site), map[string]TTL{"score": {}, "scoreboard": {Fresh: 10 * time.Minute, Stale: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Site      map[string]string
		Fragments map[string]map[string]string
	}
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Site["budget"] != "250ms" {
		t.Errorf("site.budget = %q, want it kept", got.Site["budget"])
	}
	if s := got.Fragments["score"]; s["fallback"] != "-" || s["fresh"] != "0s" || s["stale"] != "0s" {
		t.Errorf("score = %v, want fallback kept and fresh, stale 0s", s)
	}
	if s := got.Fragments["scoreboard"]; s["fresh"] != (10 * time.Minute).String() {
		t.Errorf("scoreboard = %v, want fresh 10m", s)
	}
	if _, err := PatchTTLs([]byte("- a list\n"), nil); err == nil {
		t.Error("PatchTTLs of a list: no error")
	}
}

func TestScrape(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP x y\n# TYPE x counter\n"+
			"broadsheet_cache_lookups_total{tier=\"redis\",result=\"hit\"} 12\n"+
			"broadsheet_cache_lookups_total{tier=\"redis\",result=\"miss\"} 3\n"+
			"broadsheet_cache_lookups_total{tier=\"l1\",result=\"hit\"} 7\n"+
			"go_goroutines 42\n")
	}))
	defer ts.Close()
	m, err := Scrape(context.Background(), ts.Client(), ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	if g := m.Get("go_goroutines"); g != 42 {
		t.Errorf("go_goroutines = %v", g)
	}
	if s := m.Sum("broadsheet_cache_lookups_total", `tier="redis"`); s != 15 {
		t.Errorf("redis lookups = %v, want 15", s)
	}
	if s := m.Sum("broadsheet_cache_lookups_total", `tier="redis"`, `result="hit"`); s != 12 {
		t.Errorf("redis hits = %v, want 12", s)
	}
}

// TestProcAndRedis starts a real redis-server, stops and continues it by
// its PID, and stops it.
func TestProcAndRedis(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no redis-server: scripts/test.sh installs it in CI")
		}
		t.Skip("no redis-server")
	}
	dir := t.TempDir()
	ctx := context.Background()
	p, c, err := StartRedis(ctx, bin, dir, filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer p.Stop()
	if m, err := ReadMem(p.PID()); err != nil || m.RSS <= 0 {
		t.Fatalf("ReadMem = %+v, %v", m, err)
	}
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	quick := redis.NewClient(&redis.Options{Addr: c.Options().Addr, ReadTimeout: 200 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
	err = quick.Ping(ctx).Err()
	quick.Close()
	if err == nil {
		t.Fatal("a stopped redis-server answered PING")
	}
	if err := p.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after SIGCONT: %v", err)
	}
	p.Stop()
	if !p.Exited() {
		t.Fatal("Stop returned with the process running")
	}
	p.Stop() // twice is fine
}

func TestWithRuntimeSettings(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"PATH=/bin"}, "GODEBUG=adaptivestackstart=1"},
		{[]string{"GODEBUG=http2client=0", "PATH=/bin"}, "GODEBUG=http2client=0,adaptivestackstart=1"},
		{[]string{"PATH=/bin", "GODEBUG=adaptivestackstart=0"}, "GODEBUG=adaptivestackstart=0"},
	} {
		got := WithRuntimeSettings(tc.in)
		var godebug []string
		path := false
		for _, kv := range got {
			switch {
			case len(kv) > 8 && kv[:8] == "GODEBUG=":
				godebug = append(godebug, kv)
			case kv == "PATH=/bin":
				path = true
			}
		}
		if len(godebug) != 1 || godebug[0] != tc.want || !path {
			t.Errorf("%v → %v, want PATH kept and one %s", tc.in, got, tc.want)
		}
	}
}
