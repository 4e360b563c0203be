package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// allStates lists the states in report order.
var allStates = []string{"l1", "redis", "cold", "hang", "hangcold"}

// defaultStates are the states run without -states.
var defaultStates = []string{"l1", "redis", "cold", "hang"}

type options struct {
	sizes       []int
	states      []string
	runs        int
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	check       time.Duration
	maxRequests int
	composerBin string
	src         string
	site        string
	redisBin    string
	coldLatency time.Duration
	hangEvery   int
	budget      time.Duration
	jsonPath    string
	mdPath      string
	plotsDir    string
	from        string
	keepLogs    bool

	// workloads are the workloads to run (-only), in allWorkloads order.
	workloads []string

	fragsimBin        string
	remoteIncludes    int
	remoteTimeout     time.Duration
	remoteFlatTimeout time.Duration
	remoteBudget      time.Duration
	remoteLatency     time.Duration
	remoteSlowEvery   int
	remoteSlowLatency time.Duration
	remoteBytes       int
	remoteCC          string
	remoteSlowCC      string
	remoteDownCC      string
	remoteFirstStarts int
	remoteH2C         bool
}

// allWorkloads lists the workloads in the order they run within a run:
// the scores matrix (every state × size), the remote page's workloads
// (remote.go), the cold 10,000-include page alone (coldc1.go), the warm
// page in every content coding (encoded.go) and the warm page full and
// conditional (notmodified.go).
var allWorkloads = []string{"scores", "remote-flaky", "remote-down", "remote-flat", "remote-first", "scores-cold-c1", "scores-encoded", "scores-304"}

// workloadGroups are names -only accepts for several workloads.
var workloadGroups = map[string][]string{
	"remote": {"remote-flaky", "remote-down", "remote-flat", "remote-first"},
}

// selected reports whether workload is to run.
func (o *options) selected(workload string) bool { return containsStr(o.workloads, workload) }

// remoteSelected reports whether a workload needs cmd/fragsim.
func (o *options) remoteSelected() bool {
	for _, w := range workloadGroups["remote"] {
		if o.selected(w) {
			return true
		}
	}
	return false
}

// parseFlags parses args into the suite's options, checking their values
// and their combinations.
func parseFlags(args []string) (*options, error) {
	fs, o, l := newFlagSet()
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.sizes, err = parseSizes(*l.sizes); err != nil {
		return nil, err
	}
	if o.states, err = parseStates(*l.states); err != nil {
		return nil, err
	}
	if o.workloads, err = parseOnly(*l.only); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.site == "" {
		o.site = filepath.Join(o.src, "site.yaml")
	}
	return o, nil
}

// listFlags are the flags that take comma-separated lists, as given.
type listFlags struct{ sizes, states, only *string }

// newFlagSet defines the suite's flags, their defaults and their help.
func newFlagSet() (*flag.FlagSet, *options, listFlags) {
	fs := flag.NewFlagSet("benchsuite", flag.ContinueOnError)
	o := &options{}
	var l listFlags
	l.sizes = fs.String("sizes", "100,1000,2000,5000,10000", "comma-separated page `sizes` (score includes)")
	l.states = fs.String("states", strings.Join(defaultStates, ","), "comma-separated `states`: l1, redis, cold, hang, hangcold")
	fs.IntVar(&o.runs, "runs", 3, "repeat every cell `N` times; tables show medians")
	fs.IntVar(&o.concurrency, "c", 16, "concurrent `workers` (closed loop)")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "measured `time` of each floor and target run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unrecorded warm-up `time` before a cell's runs")
	fs.DurationVar(&o.check, "check", time.Second, "`time` of the ?debug=1 completeness pass (0: skip)")
	fs.IntVar(&o.maxRequests, "max-requests", 50000, "cap on recorded `requests` per run")
	fs.StringVar(&o.composerBin, "composer", "", "composer `binary` to run (default: build ./cmd/composer from -src)")
	fs.StringVar(&o.src, "src", ".", "module `directory` to build the composer from")
	fs.StringVar(&o.site, "site", "", "site configuration to patch (default: site.yaml in -src)")
	fs.StringVar(&o.redisBin, "redis-server", "/usr/bin/redis-server", "redis-server `binary`")
	fs.DurationVar(&o.coldLatency, "cold-latency", 5*time.Millisecond, "feed `latency` of every call in the cold state")
	fs.IntVar(&o.hangEvery, "hang-every", 100, "one feed call in `N` hangs in the hang state")
	fs.DurationVar(&o.budget, "budget", 400*time.Millisecond, "the scores page's `budget` (site.yaml), for the target checks")
	fs.StringVar(&o.jsonPath, "json", "", "write every run's figures and the medians to `file`")
	fs.StringVar(&o.mdPath, "md", "", "also write the Markdown tables to `file`")
	fs.StringVar(&o.plotsDir, "plots", "", "write the plots (SVG) of the results into `directory`")
	fs.StringVar(&o.from, "from", "", "run nothing: report the results `file` written by -json (Markdown, -md, -plots)")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the children's logs and configuration (printed at the end)")
	l.only = fs.String("only", "", "comma-separated `workloads` to run (default: all): "+strings.Join(allWorkloads, ", ")+", or remote (the four remote-*)")
	fs.StringVar(&o.fragsimBin, "fragsim", "", "fragment service `binary` to run (default: build ./cmd/fragsim from -src)")
	fs.IntVar(&o.remoteIncludes, "remote-includes", 1000, "remote workloads: top-level includes of the page")
	fs.DurationVar(&o.remoteTimeout, "remote-timeout", 50*time.Millisecond, "remote workloads: the remote fragment's `timeout`")
	fs.DurationVar(&o.remoteFlatTimeout, "remote-flat-timeout", time.Second, "remote-flat: the remote fragment's `timeout` (it only matters while the cache fills)")
	fs.DurationVar(&o.remoteBudget, "remote-budget", 30*time.Second, "remote workloads: the page's `budget`")
	fs.DurationVar(&o.remoteLatency, "remote-latency", 5*time.Millisecond, "remote workloads: the service's `latency` per fragment")
	fs.IntVar(&o.remoteSlowEvery, "remote-slow-every", 100, "remote-flaky and remote-down: one fragment in `N` is slow (i = N-1, 2N-1, …)")
	fs.DurationVar(&o.remoteSlowLatency, "remote-slow-latency", 500*time.Millisecond, "remote workloads: a slow fragment's `latency`")
	fs.IntVar(&o.remoteBytes, "remote-bytes", 200, "remote workloads: a fragment's HTML in `bytes`")
	fs.StringVar(&o.remoteCC, "remote-cache-control", "max-age=30", "remote workloads but remote-down: Cache-Control of a fragment that is not slow")
	fs.StringVar(&o.remoteSlowCC, "remote-slow-cache-control", "max-age=0, no-store", "remote workloads: Cache-Control of a slow fragment")
	fs.StringVar(&o.remoteDownCC, "remote-down-cache-control", "max-age=1, stale-while-revalidate=60", "remote-down: Cache-Control of a fragment that is not slow")
	fs.IntVar(&o.remoteFirstStarts, "remote-first-starts", 5, "remote-first: fresh composers per run, each asked for its first page")
	fs.BoolVar(&o.remoteH2C, "remote-h2c", false, "remote workloads: the service also accepts HTTP/2 over cleartext, and the remote fragment is declared h2c: true")
	return fs, o, l
}

// parseSizes parses -sizes: page sizes from 1 to 20000.
func parseSizes(list string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 20000 {
			return nil, fmt.Errorf("-sizes: %q is not a size from 1 to 20000", f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// parseStates parses -states: names from allStates.
func parseStates(list string) ([]string, error) {
	var states []string
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if !containsStr(allStates, f) {
			return nil, fmt.Errorf("-states: unknown state %q (want %s)", f, strings.Join(allStates, ", "))
		}
		states = append(states, f)
	}
	return states, nil
}

// parseOnly parses -only, workloads and workload groups, into the
// workloads to run in allWorkloads order; empty is all of them.
func parseOnly(only string) ([]string, error) {
	selected := map[string]bool{}
	for f := range strings.SplitSeq(only, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "" && only == "":
			for _, w := range allWorkloads {
				selected[w] = true
			}
		case workloadGroups[f] != nil:
			for _, w := range workloadGroups[f] {
				selected[w] = true
			}
		case containsStr(allWorkloads, f):
			selected[f] = true
		default:
			return nil, fmt.Errorf("-only: unknown workload %q (want %s or remote)", f, strings.Join(allWorkloads, ", "))
		}
	}
	var workloads []string
	for _, w := range allWorkloads {
		if selected[w] {
			workloads = append(workloads, w)
		}
	}
	return workloads, nil
}

// validate refuses the options' values out of range, and a -duration too
// short for remote-flaky.
func (o *options) validate() error {
	switch {
	case o.runs < 1, o.concurrency < 1, o.duration <= 0, o.warmup < 0, o.check < 0, o.maxRequests < 0:
		return errors.New("-runs, -c and -duration must be positive; -warmup, -check, -max-requests not negative")
	case o.remoteIncludes < 1, o.remoteIncludes > 100000, o.remoteTimeout <= 0, o.remoteFlatTimeout <= 0, o.remoteBudget <= 0, o.remoteFirstStarts < 1:
		return errors.New("-remote-includes must be from 1 to 100000; -remote-timeout, -remote-flat-timeout, -remote-budget, -remote-first-starts positive")
	case o.selected("remote-flaky") && o.duration <= time.Second:
		return errors.New("-duration must be over 1s for remote-flaky (it reports the pages after the first second)")
	}
	return nil
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
