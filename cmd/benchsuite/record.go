// The results file: the machine the suite ran on and the options it ran
// with, recorded beside the figures and read back by -from.

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

// machine describes where the suite ran.
type machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	Go       string `json:"go"`
	Redis    string `json:"redis_server"`
	Kernel   string `json:"kernel"`
	Started  string `json:"started"`
	// LoadStart is the machine's load average when the suite started.
	LoadStart string `json:"load_start,omitempty"`
}

func describeMachine(o *options) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Started: time.Now().UTC().Format(time.RFC3339), LoadStart: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(o.redisBin, "--version").Output(); err == nil {
		m.Redis = strings.TrimSpace(string(out))
	}
	return m
}

// optionsRecord is the options as a results file records them, so that
// -from can report the file again as it was run.
type optionsRecord struct {
	Sizes                  []int    `json:"sizes"`
	States                 []string `json:"states"`
	Runs                   int      `json:"runs"`
	Concurrency            int      `json:"concurrency"`
	DurationS              float64  `json:"duration_s"`
	WarmupS                float64  `json:"warmup_s"`
	CheckS                 float64  `json:"check_s"`
	MaxRequests            int      `json:"max_requests"`
	ColdLatencyMS          float64  `json:"cold_latency_ms"`
	HangEvery              int      `json:"hang_every"`
	BudgetMS               float64  `json:"budget_ms"`
	Workloads              []string `json:"workloads,omitempty"`
	RemoteIncludes         int      `json:"remote_includes,omitempty"`
	RemoteTimeoutMS        float64  `json:"remote_timeout_ms,omitempty"`
	RemoteFlatTimeoutMS    float64  `json:"remote_flat_timeout_ms,omitempty"`
	RemoteBudgetMS         float64  `json:"remote_budget_ms,omitempty"`
	RemoteLatencyMS        float64  `json:"remote_latency_ms,omitempty"`
	RemoteSlowEvery        int      `json:"remote_slow_every,omitempty"`
	RemoteSlowLatencyMS    float64  `json:"remote_slow_latency_ms,omitempty"`
	RemoteBytes            int      `json:"remote_bytes,omitempty"`
	RemoteCacheControl     string   `json:"remote_cache_control,omitempty"`
	RemoteSlowCacheControl string   `json:"remote_slow_cache_control,omitempty"`
	RemoteDownCacheControl string   `json:"remote_down_cache_control,omitempty"`
	RemoteFirstStarts      int      `json:"remote_first_starts,omitempty"`
	RemoteH2C              bool     `json:"remote_h2c,omitempty"`
}

func recordOptions(o *options) optionsRecord {
	return optionsRecord{
		Sizes: o.sizes, States: o.states, Runs: o.runs, Concurrency: o.concurrency,
		DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(), CheckS: o.check.Seconds(),
		MaxRequests: o.maxRequests, ColdLatencyMS: loadtest.Millis(o.coldLatency), HangEvery: o.hangEvery,
		BudgetMS: loadtest.Millis(o.budget), Workloads: o.workloads,
		RemoteIncludes: o.remoteIncludes, RemoteTimeoutMS: loadtest.Millis(o.remoteTimeout), RemoteFlatTimeoutMS: loadtest.Millis(o.remoteFlatTimeout),
		RemoteBudgetMS: loadtest.Millis(o.remoteBudget), RemoteLatencyMS: loadtest.Millis(o.remoteLatency), RemoteSlowEvery: o.remoteSlowEvery,
		RemoteSlowLatencyMS: loadtest.Millis(o.remoteSlowLatency), RemoteBytes: o.remoteBytes, RemoteCacheControl: o.remoteCC,
		RemoteSlowCacheControl: o.remoteSlowCC, RemoteDownCacheControl: o.remoteDownCC,
		RemoteFirstStarts: o.remoteFirstStarts, RemoteH2C: o.remoteH2C,
	}
}

// apply sets the options a report depends on to those recorded, keeping
// o's where the record has none (a file written before the field was).
func (r optionsRecord) apply(o *options) {
	sec := func(d *time.Duration, s float64) {
		if s > 0 {
			*d = time.Duration(math.Round(s * float64(time.Second)))
		}
	}
	msec := func(d *time.Duration, x float64) {
		if x > 0 {
			*d = time.Duration(math.Round(x * float64(time.Millisecond)))
		}
	}
	positive := func(n *int, v int) {
		if v > 0 {
			*n = v
		}
	}
	if len(r.Sizes) > 0 {
		o.sizes = r.Sizes
	}
	if len(r.States) > 0 {
		o.states = r.States
	}
	if len(r.Workloads) > 0 {
		o.workloads = r.Workloads
	}
	positive(&o.runs, r.Runs)
	positive(&o.concurrency, r.Concurrency)
	sec(&o.duration, r.DurationS)
	sec(&o.warmup, r.WarmupS)
	sec(&o.check, r.CheckS)
	positive(&o.maxRequests, r.MaxRequests)
	msec(&o.coldLatency, r.ColdLatencyMS)
	positive(&o.hangEvery, r.HangEvery)
	msec(&o.budget, r.BudgetMS)
	positive(&o.remoteIncludes, r.RemoteIncludes)
	msec(&o.remoteTimeout, r.RemoteTimeoutMS)
	msec(&o.remoteFlatTimeout, r.RemoteFlatTimeoutMS)
	msec(&o.remoteBudget, r.RemoteBudgetMS)
	msec(&o.remoteLatency, r.RemoteLatencyMS)
	positive(&o.remoteSlowEvery, r.RemoteSlowEvery)
	msec(&o.remoteSlowLatency, r.RemoteSlowLatencyMS)
	positive(&o.remoteBytes, r.RemoteBytes)
	for _, c := range []struct {
		to *string
		v  string
	}{
		{&o.remoteCC, r.RemoteCacheControl}, {&o.remoteSlowCC, r.RemoteSlowCacheControl}, {&o.remoteDownCC, r.RemoteDownCacheControl},
	} {
		if c.v != "" {
			*c.to = c.v
		}
	}
	positive(&o.remoteFirstStarts, r.RemoteFirstStarts)
	o.remoteH2C = o.remoteH2C || r.RemoteH2C
}

// readResults reads a results file written by -json, and sets the options
// its report depends on to those it was run with.
func readResults(path string, o *options) (*results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("benchsuite: -from: %w", err)
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("benchsuite: -from %s: %w", path, err)
	}
	res.Options.apply(o)
	if len(res.Options.Workloads) == 0 && len(res.Medians) == 0 {
		// A file that does not say which workloads ran: the scores matrix
		// ran if it has medians; the others' tables need only their results.
		o.workloads = slices.DeleteFunc(o.workloads, func(w string) bool { return w == "scores" })
	}
	return &res, nil
}

// loadAverage is the first three fields of /proc/loadavg ("0.52 0.58
// 0.59"), or "" where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
