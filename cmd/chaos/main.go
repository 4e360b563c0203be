// Command chaos runs Broadsheet's fault and overload scenarios against real
// child processes and writes what held as JSON and Markdown (the figures of
// RELIABILITY.md).
//
// Usage:
//
//	go run ./cmd/chaos [-scenarios redis,herd,overload,shutdown] [-json chaos.json] [-md chaos.md]
//
// or `make chaos`. It builds ./cmd/composer once (or uses -composer), then
// for each scenario starts fresh composer and redis-server processes on free
// 127.0.0.1 ports, drives them with package loadtest, and stops every
// process it started by its PID. Every load run is bounded in time and in
// requests; the whole default run takes about four minutes.
//
// The scenarios (numbers are the issue's):
//
//	redis     (1) Redis killed (SIGKILL, restarted after -fault-for),
//	          hung (SIGSTOP, SIGCONT after -fault-for) and paused (CLIENT
//	          PAUSE 3000 ALL) while the scores page is under a fixed rate,
//	          in-process tier off so every include goes to Redis: status
//	          codes, p99 and Redis hit rate per second, the breaker's
//	          transitions, and seconds to recovery after the restore
//	herd      (3) two composers on one Redis; 1,000 requests released
//	          together on a cold page, then again once every entry has
//	          passed its fresh time: fragment calls counted on both
//	          instances, latency of the second herd (stale served at once)
//	overload  (4) the highest fixed rate with p99 within budget (bounded
//	          step search), then ten times that for -overload-for with
//	          -max-pages and -max-conns set, from a client keeping at most
//	          -client-conns connections (and as many requests waiting;
//	          beyond, a request is not sent): shed 503s with Retry-After,
//	          admitted pages' latency (the composer's own histogram), peak
//	          RSS, seconds to recovery at the sustainable rate, and the
//	          floor (the same client against the page served from memory)
//	shutdown  (6) SIGTERM during a rolling deploy: under load from a
//	          simulated load balancer probing /readyz, and while a slow
//	          page is being composed: /readyz fails at once, every page
//	          sent until the balancer takes the composer out is served,
//	          new connections are served while it drains, the slow page
//	          completes, the process exits within a bound, and the
//	          pages' write-backs reach Redis
//	memory    (issue 20) 16 clients asking for the scores page at random
//	          sizes (1 to 18,000: a new key and up to 18,000 includes
//	          each) for -memory-for, against the composer's defaults,
//	          while a reader asks for the front page 10 times a second:
//	          peak RSS against the caches + 256 MiB, the front page's p99
//	          against its budget, RSS after 10 s at rest
//	slowloris (issue 20) a normal client on the front page, from its own
//	          loopback address, alone, then while -slow-conns connections
//	          send their request head a line a second (reopened as closed),
//	          then while -slow-readers connections ask for a large page and
//	          never read it: its status codes and p99, connections shed,
//	          goroutines and RSS during and after each attack
//
// Scenarios 2 (misbehaving fragments under load) and 5 (client disconnect,
// goleak) run in-process as Go tests in this package: go test ./cmd/chaos.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
)

var allScenarios = []string{"redis", "herd", "overload", "overload-cold", "shutdown", "memory", "slowloris"}

type options struct {
	scenarios   []string
	composerBin string
	src         string
	site        string
	redisBin    string
	size        int
	rate        int
	faultFor    time.Duration
	overloadFor time.Duration
	maxPages    int
	maxConns    int
	clientConns int
	maxRate     int
	// coldSize and coldMaxPages are the overload-cold scenario's page size
	// and composer -max-pages.
	coldSize, coldMaxPages int
	herd                   int
	memoryFor              time.Duration
	memoryArgs             []string
	// The slowloris scenario's attack (slowloris.go).
	slowConns, slowIPs, slowReaders, readerIPs, readerSize, normalRate, slowPerIP int
	attackFor                                                                     time.Duration
	jsonPath                                                                      string
	mdPath                                                                        string
	keepLogs                                                                      bool
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("chaos: ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.Print(err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	o := &options{}
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated `scenarios`: "+strings.Join(allScenarios, ", "))
	fs.StringVar(&o.composerBin, "composer", "", "composer `binary` (default: build ./cmd/composer from -src)")
	fs.StringVar(&o.src, "src", ".", "module `directory` to build the composer from")
	fs.StringVar(&o.site, "site", "", "site configuration to patch (default: site.yaml in -src)")
	fs.StringVar(&o.redisBin, "redis-server", "/usr/bin/redis-server", "redis-server `binary`")
	fs.IntVar(&o.size, "size", 100, "score includes on the scores page (the page has size+3 includes)")
	fs.IntVar(&o.rate, "rate", 40, "fixed `rate` (req/s) of the Redis fault runs")
	fs.DurationVar(&o.faultFor, "fault-for", 5*time.Second, "how long Redis stays killed or stopped")
	fs.DurationVar(&o.overloadFor, "overload-for", 30*time.Second, "length of the 10× overload")
	fs.IntVar(&o.maxPages, "max-pages", 64, "composer -max-pages in the overload scenario")
	fs.IntVar(&o.maxConns, "max-conns", 1024, "composer -max-conns in the overload scenario (0: no limit)")
	fs.IntVar(&o.clientConns, "client-conns", 0, "overload: connections the load client keeps to the composer (0: half of -max-conns; -1: no bound, a new connection whenever none is free)")
	fs.IntVar(&o.maxRate, "max-rate", 4000, "cap on the offered overload `rate` (req/s)")
	fs.IntVar(&o.coldSize, "cold-size", 2000, "overload-cold: score includes on its page")
	fs.IntVar(&o.coldMaxPages, "cold-max-pages", 16, "overload-cold: composer -max-pages")
	fs.IntVar(&o.herd, "herd", 1000, "requests released together in the herd scenario")
	fs.DurationVar(&o.memoryFor, "memory-for", 60*time.Second, "length of the memory scenario's attack")
	memArgs := fs.String("memory-args", "", "extra composer `flags` for the memory scenario, space-separated (default: none, the composer's defaults)")
	fs.IntVar(&o.slowConns, "slow-conns", 5000, "slowloris: connections sending their request head a line a second, reopened as closed")
	fs.IntVar(&o.slowIPs, "slow-ips", 1, "slowloris: loopback addresses the slow heads come from")
	fs.IntVar(&o.slowReaders, "slow-readers", 100, "slowloris: connections asking for the scores page of -reader-size and never reading it")
	fs.IntVar(&o.readerIPs, "reader-ips", 10, "slowloris: loopback addresses the slow readers come from")
	fs.IntVar(&o.readerSize, "reader-size", 18000, "slowloris: the slow readers' page size (?size=; 18,000 is some 3.5 MB, more than the kernel's socket buffers take)")
	fs.IntVar(&o.normalRate, "normal-rate", 50, "slowloris: the normal client's rate on the front page (req/s)")
	fs.IntVar(&o.slowPerIP, "slow-per-ip", 64, "slowloris: composer -max-conns-per-ip (-1: not given, for a composer without the flag)")
	fs.DurationVar(&o.attackFor, "attack-for", 15*time.Second, "slowloris: length of each attack")
	fs.StringVar(&o.jsonPath, "json", "", "write the results as JSON to `file`")
	fs.StringVar(&o.mdPath, "md", "", "write the Markdown summary to `file`")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the children's logs and configurations")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.memoryArgs = strings.Fields(*memArgs)
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.scenarios, err = parseScenarios(*scen); err != nil {
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

// parseScenarios parses -scenarios: names from allScenarios, in the order
// given.
func parseScenarios(list string) ([]string, error) {
	var scenarios []string
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		found := false
		for _, a := range allScenarios {
			found = found || a == s
		}
		if !found {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
		scenarios = append(scenarios, s)
	}
	return scenarios, nil
}

// validate refuses the options' values out of range.
func (o *options) validate() error {
	if o.size < 1 || o.rate < 1 || o.faultFor <= 0 || o.overloadFor <= 0 || o.maxPages < 1 || o.coldSize < 1 || o.coldMaxPages < 1 || o.herd < 1 || o.maxRate < 1 || o.memoryFor <= 0 {
		return errors.New("-size, -rate, -fault-for, -overload-for, -max-pages, -max-rate and -herd must be positive")
	}
	if o.slowConns < 1 || o.slowIPs < 1 || o.slowReaders < 0 || o.readerIPs < 1 || o.readerSize < 1 || o.normalRate < 1 || o.attackFor <= 0 || o.slowPerIP < -1 {
		return errors.New("-slow-conns, -slow-ips, -reader-ips, -normal-rate and -attack-for must be positive, -slow-readers not negative, -slow-per-ip at least -1")
	}
	if o.maxConns < 0 {
		return errors.New("-max-conns must not be negative")
	}
	if o.clientConns < -1 {
		return errors.New("-client-conns must be -1 (no bound), 0 (half of -max-conns) or positive")
	}
	return nil
}

// env is what every scenario shares.
type env struct {
	o    *options
	bin  string // composer binary
	dir  string // temporary directory: configurations, logs
	site []byte // the site.yaml to patch
	log  io.Writer
}

// Results is the JSON document chaos writes.
type Results struct {
	Date     string            `json:"date"`
	Machine  map[string]string `json:"machine"`
	Command  string            `json:"command"`
	Redis    []*RedisFault     `json:"redis,omitempty"`
	Herd     *Herd             `json:"herd,omitempty"`
	Overload *Overload         `json:"overload,omitempty"`
	// OverloadCold is the overload with nothing cached (see overloadCold).
	OverloadCold *Overload `json:"overload_cold,omitempty"`
	Shutdown     *Shutdown `json:"shutdown,omitempty"`
	Memory       *Memory   `json:"memory,omitempty"`
	// Slowloris is the slow-client scenario (issue 20).
	Slowloris *Slowloris `json:"slowloris,omitempty"`
	Errors    []string   `json:"errors,omitempty"`
	Seconds   float64    `json:"seconds"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		return err
	}
	if !o.keepLogs {
		defer os.RemoveAll(dir)
	}
	// The load comes from one address, as through a proxy: the composers
	// get no bound per client unless a scenario sets one (its flag wins
	// over the environment; a composer without the flag ignores it).
	if _, ok := os.LookupEnv("BROADSHEET_MAX_CONNS_PER_IP"); !ok {
		os.Setenv("BROADSHEET_MAX_CONNS_PER_IP", "0")
	}
	e := &env{o: o, dir: dir, log: os.Stderr}
	if e.site, err = os.ReadFile(o.site); err != nil {
		return err
	}
	e.bin = o.composerBin
	if e.bin == "" {
		e.bin = filepath.Join(dir, "composer")
		fmt.Fprintf(e.log, "building ./cmd/composer in %s\n", o.src)
		if err := harness.BuildComposer(ctx, o.src, e.bin, e.log); err != nil {
			return err
		}
	}
	start := time.Now()
	res := &Results{Date: start.UTC().Format(time.RFC3339), Machine: machine(), Command: "chaos " + strings.Join(args, " ")}
	for _, s := range o.scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(e.log, "== %s\n", s)
		if err := e.scenario(ctx, s, res); err != nil {
			fmt.Fprintf(e.log, "%s: %v\n", s, err)
			res.Errors = append(res.Errors, s+": "+err.Error())
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if err := report(stdout, res, o); err != nil {
		return err
	}
	if o.keepLogs {
		fmt.Fprintf(e.log, "logs and configurations kept in %s\n", dir)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d scenario(s) could not run: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return nil
}

func machine() map[string]string {
	m := map[string]string{"nproc": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version(), "os": runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadavg_at_start"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

// scenario runs the scenario named s into its field of res.
func (e *env) scenario(ctx context.Context, s string, res *Results) error {
	var err error
	switch s {
	case "redis":
		res.Redis, err = e.redisFaults(ctx)
	case "herd":
		res.Herd, err = e.herd(ctx)
	case "overload":
		res.Overload, err = e.overload(ctx, false, e.o.size, e.o.maxPages)
	case "overload-cold":
		res.OverloadCold, err = e.overload(ctx, true, e.o.coldSize, e.o.coldMaxPages)
	case "shutdown":
		res.Shutdown, err = e.shutdown(ctx, shutdownDrain)
	case "memory":
		res.Memory, err = e.memory(ctx, e.o.memoryFor)
	case "slowloris":
		res.Slowloris, err = e.slowloris(ctx)
	}
	return err
}

// report writes res as Markdown to stdout and to -md, and as JSON to
// -json.
func report(stdout io.Writer, res *Results, o *options) error {
	var md strings.Builder
	writeMarkdown(&md, res)
	fmt.Fprint(stdout, md.String())
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, b, 0o644); err != nil {
			return err
		}
	}
	if o.mdPath != "" {
		if err := os.WriteFile(o.mdPath, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
