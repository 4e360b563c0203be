package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/internal/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseCommandStats(t *testing.T) {
	info := "# Commandstats\r\n" +
		"cmdstat_mget:calls=12,usec=345,usec_per_call=28.75,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_set:calls=4000,usec=1,usec_per_call=0.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=3,usec=1,usec_per_call=0.33\r\n"
	got := parseCommandStats(info)
	if got["mget"] != 12 || got["set"] != 4000 || got["info"] != 3 || len(got) != 3 {
		t.Fatalf("parseCommandStats = %v", got)
	}
	d := statsDelta(map[string]int64{"mget": 2, "info": 1}, got)
	if len(d) != 2 || d["mget"] != 10 || d["set"] != 4000 {
		t.Fatalf("statsDelta = %v, want mget 10, set 4000 and no info", d)
	}
}

// TestBenchTTLs: the hang state's configuration misses every score and
// keeps the rest warm.
func TestBenchTTLs(t *testing.T) {
	site := "site:\n  budget: 250ms\nfragments:\n  score:\n    fallback: '-'\n    stale: 5m\npages: []\n"
	out, err := harness.PatchTTLs([]byte(site), scoresMissTTLs)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Fragments map[string]map[string]string
	}
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if s := got.Fragments["score"]; s["fallback"] != "-" || s["fresh"] != "0s" || s["stale"] != "0s" {
		t.Errorf("score = %v, want fallback kept and fresh, stale 0s", s)
	}
	if s := got.Fragments["scoreboard"]; s["fresh"] != (10 * time.Minute).String() {
		t.Errorf("scoreboard = %v, want fresh 10m", s)
	}
}

func TestMedians(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("median empty = %v", m)
	}
}

func TestFmtSignedMS(t *testing.T) {
	for d, want := range map[time.Duration]string{1120 * time.Microsecond: "+1.12", -4860 * time.Microsecond: "−4.86", 0: "+0.00"} {
		if got := fmtSignedMS(d); got != want {
			t.Errorf("fmtSignedMS(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-sizes", "100, 2000", "-states", "l1,hang"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.sizes) != 2 || o.sizes[1] != 2000 || strings.Join(o.states, ",") != "l1,hang" || o.concurrency != 16 {
		t.Fatalf("options = %+v", o)
	}
	for only, want := range map[string]string{
		"":                           strings.Join(allWorkloads, ","),
		"remote":                     "remote-flaky,remote-down,remote-flat,remote-first",
		"scores-cold-c1,remote-down": "remote-down,scores-cold-c1",
		"scores":                     "scores",
	} {
		args := []string{}
		if only != "" {
			args = []string{"-only", only}
		}
		o, err := parseFlags(args)
		if err != nil || strings.Join(o.workloads, ",") != want {
			t.Errorf("-only %q: %v, %v; want %s", only, o.workloads, err, want)
		}
	}
	for _, bad := range [][]string{{"-sizes", "0"}, {"-sizes", "x"}, {"-states", "warm"}, {"-runs", "0"}, {"extra"},
		{"-only", "remotes"}, {"-only", "remote,"}, {"-remote-includes", "0"}, {"-only", "remote-flaky", "-duration", "1s"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
}

func TestFetchReferenceRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("<html>page</html>"))
	}))
	defer srv.Close()
	page, err := fetchReference(t.Context(), srv.URL+"/p", time.Millisecond)
	if err != nil || string(page.Body) != "<html>page</html>" || calls.Load() != 3 {
		t.Fatalf("page %q, err %v after %d requests; want the page on the third", page.Body, err, calls.Load())
	}
	calls.Store(-100) // always busy
	if _, err := fetchReference(t.Context(), srv.URL+"/p", time.Millisecond); err == nil {
		t.Fatal("no error from a server that is always busy")
	}
}

// TestPageCounts: the pages counted by status are summed over pages, and
// only the page duration's _count lines count.
func TestPageCounts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`# TYPE broadsheet_page_duration_seconds histogram
broadsheet_page_duration_seconds_bucket{page="scores",status="200",le="0.005"} 3
broadsheet_page_duration_seconds_count{page="scores",status="200"} 7
broadsheet_page_duration_seconds_count{page="scores",status="304"} 1.2e+06
broadsheet_page_duration_seconds_count{page="home",status="200"} 2
broadsheet_page_duration_seconds_sum{page="home",status="200"} 0.5
broadsheet_other_count{page="home",status="500"} 9
`))
	}))
	defer srv.Close()
	got, err := pageCounts(t.Context(), srv.URL)
	if err != nil || len(got) != 2 || got["200"] != 9 || got["304"] != 1.2e6 {
		t.Fatalf("pageCounts = %v, %v; want 200: 9, 304: 1.2e6", got, err)
	}
	if s := fmtCounted(got); s != "200×9, 304×1200000" {
		t.Errorf("fmtCounted = %q", s)
	}
}
