// Command benchsuite measures Broadsheet's scores page end to end and
// writes the figures BENCHMARKS.md reports.
//
// Usage:
//
//	go run ./cmd/benchsuite [-runs 3] [-sizes 100,1000,2000,5000,10000] [-json bench.json]
//	    [-only scores,remote,scores-cold-c1] [-plots DIR]
//	go run ./cmd/benchsuite -from bench.json [-md bench.md] [-plots DIR]
//
// With -plots it also writes the scores matrix as SVG plots into DIR:
// scores-latency.svg (each state's TTLB p50 and p99 by size against the
// budget) and scores-throughput.svg (each state's throughput as a share of
// the floor's, against the warm target). With -from it runs nothing and
// reports a results file written by -json again: the same Markdown and
// the plots, so that they can be redrawn without loading the machine.
//
// It builds ./cmd/composer once (or uses -composer), then for every run,
// every state and every size starts a fresh composer as a child process on a
// free 127.0.0.1 port (and, for the Redis state, a fresh redis-server it
// owns), drives /sport/football/scores?size=N with package loadtest at a fixed
// concurrency (-c, 16) for a bounded time (-duration) and request count
// (-max-requests), and stops every process it started, by its PID.
//
// The states are:
//
//	l1     warm in the in-process tier: every include a fresh L1 hit
//	       (composer -feed-latency 0 -feed-slow-every 0)
//	redis  warm in Redis only, in-process tier off: every include a fresh
//	       Redis hit (-l1-mb 0 -redis …); Redis commands per page are counted
//	       from INFO commandstats, and a bare MGET of the page's keys (same
//	       two levels, go-redis, same concurrency and duration) is timed in
//	       the same cell
//	cold   nothing is cached (-l1-mb 0, no Redis), every fragment call takes
//	       5 ms (-feed-latency 5ms -feed-slow-every 0): every include misses;
//	       concurrent requests for one key still share one call
//	hang   every score include misses (score's fresh and stale times set to
//	       0 in the configuration) while the scoreboard, nav and footer stay
//	       warm in L1; calls are instant but one feed call in 100 hangs until
//	       its include's timeout (-feed-latency 0 -feed-hang-every 100): the
//	       page must be complete, with fallbacks, within its budget
//	hangcold  (not run by default) like hang with nothing cached at all
//	       (-l1-mb 0): the scoreboard, a primary include, then hangs in
//	       about 1% of pages too and, with nothing stale to serve, makes
//	       them a 503 by design
//
// Every state runs with the repository's site.yaml (-site) patched so that
// the scores page's fragments stay fresh for 10 minutes (score: never, in
// the hang state): "warm" then means that no entry goes stale and no
// background refresh runs while measuring.
//
// Each cell (state × size) is measured in one sitting, so its ratios compare
// figures taken seconds apart on the same machine:
//
//  1. warm-up: -warmup of load at -c, not recorded;
//  2. floor and target, in alternating order from run to run: the floor is
//     the same page bytes (fetched once from the composer) served from
//     memory by loadtest.FloorServer; the target is the composer. Both
//     without ?debug=1, so both carry exactly the page's bytes; a response
//     not ending in </html> counts as incomplete. VmRSS of the composer is
//     sampled every 20 ms during the target run;
//  3. completeness: -check of load at -c on ?debug=1 with
//     ExpectIncludes = size + 3 (nav, scoreboard, footer and one score per
//     match): a page missing any include marker is an error; fallbacks and
//     placeholders are counted from the debug outcomes;
//  4. cold and redis only: the target again at concurrency 1 (one page's
//     own latency, without 15 others sharing the two cores);
//  5. redis only: the bare MGET baseline, at -c and at concurrency 1.
//
// Medians over -runs are printed as Markdown tables (and each run's raw
// figures written with -json). The machine is assumed shared and noisy:
// take the medians, not one run.
//
// # Other workloads
//
// Besides that matrix (workload "scores"), every run runs these, each on
// fresh processes, bounded in time, reporting per page (-only picks
// workloads; "remote" names the four remote ones):
//
//	remote-flaky    a page (/remote) of -remote-includes (1,000) top-level
//	                includes of one remote fragment, frag, URL
//	                http://127.0.0.1:PORT/frag/{i}, timeout -remote-timeout
//	                (50 ms), budget -remote-budget (30 s), served by
//	                cmd/fragsim (a plain HTTP service, not Broadsheet's):
//	                5 ms and max-age=30 per fragment, one in 100 slow (500
//	                ms, no-store). -c clients from a cold start for
//	                -duration with ?debug=1, reported for the first second
//	                and after it; then one client, without debug, for
//	                -duration.
//	remote-down     the same page and service, but fast fragments fresh for
//	                a second and stale for a minute; -c clients with
//	                ?debug=1 for 14 s; the service is killed (SIGKILL:
//	                connections refused) at 5 s and started again on its
//	                port at 9 s, as a new run (gen 2). Reported: pages
//	                before, while down and after; when the first page
//	                reported a call refused by the breaker after the kill;
//	                when a page first held a fragment of the new run, and
//	                all fast fragments from it.
//	remote-flat     the page warm (no slow fragments, every include a
//	                fresh hit) at -c against the floor, as a cell's.
//	remote-first    -remote-first-starts fresh composers, each asked for
//	                one page as soon as it is ready (no slow fragments).
//	scores-cold-c1  the scores page of 10,000 includes in process, nothing
//	                cached (-l1-mb 0 -stitch-mb 0, feed -cold-latency, none
//	                slow), one page at a time with ?debug=1 for -duration.
//	scores-encoded  the scores page of 2,000 includes warm in L1 (the l1
//	                state's composer) at -c for -duration per
//	                Accept-Encoding: none, gzip, zstd, br (bodies counted as
//	                sent); each coding's page is fetched once and decoded,
//	                and the uncompressed page's size through `gzip -6` and
//	                the machine's load average are reported beside.
//
// A page's fragments are counted from markers in its body (loadtest's
// Config.Markers): a fragsim fragment carries data-fragsim=" once; a
// missing include is the composer's "<!-- bs: frag unavailable -->"
// comment; in debug pages, data-fragment="F" data-outcome="O" gives each
// include's outcome and ": breaker_open" a call the breaker refused.
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// pagePath is the page every cell drives.
const pagePath = "/sport/football/scores"

// extraIncludes are the scores page's includes besides its scores: nav,
// scoreboard and footer.
const extraIncludes = 3

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

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchsuite: ")
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
	fs := flag.NewFlagSet("benchsuite", flag.ContinueOnError)
	o := &options{}
	sizes := fs.String("sizes", "100,1000,2000,5000,10000", "comma-separated page `sizes` (score includes)")
	states := fs.String("states", strings.Join(defaultStates, ","), "comma-separated `states`: l1, redis, cold, hang, hangcold")
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
	only := fs.String("only", "", "comma-separated `workloads` to run (default: all): "+strings.Join(allWorkloads, ", ")+", or remote (the four remote-*)")
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
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for f := range strings.SplitSeq(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 20000 {
			return nil, fmt.Errorf("-sizes: %q is not a size from 1 to 20000", f)
		}
		o.sizes = append(o.sizes, n)
	}
	for f := range strings.SplitSeq(*states, ",") {
		f = strings.TrimSpace(f)
		if !containsStr(allStates, f) {
			return nil, fmt.Errorf("-states: unknown state %q (want %s)", f, strings.Join(allStates, ", "))
		}
		o.states = append(o.states, f)
	}
	selected := map[string]bool{}
	for f := range strings.SplitSeq(*only, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "" && *only == "":
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
	for _, w := range allWorkloads {
		if selected[w] {
			o.workloads = append(o.workloads, w)
		}
	}
	switch {
	case o.runs < 1, o.concurrency < 1, o.duration <= 0, o.warmup < 0, o.check < 0, o.maxRequests < 0:
		return nil, errors.New("-runs, -c and -duration must be positive; -warmup, -check, -max-requests not negative")
	case o.remoteIncludes < 1, o.remoteIncludes > 100000, o.remoteTimeout <= 0, o.remoteFlatTimeout <= 0, o.remoteBudget <= 0, o.remoteFirstStarts < 1:
		return nil, errors.New("-remote-includes must be from 1 to 100000; -remote-timeout, -remote-flat-timeout, -remote-budget, -remote-first-starts positive")
	case o.selected("remote-flaky") && o.duration <= time.Second:
		return nil, errors.New("-duration must be over 1s for remote-flaky (it reports the pages after the first second)")
	}
	if o.site == "" {
		o.site = filepath.Join(o.src, "site.yaml")
	}
	return o, nil
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// suite holds what every cell shares.
type suite struct {
	o       *options
	bin     string // composer binary
	fragsim string // fragment service binary (remote workloads)
	dir     string // temporary directory: config, logs
	warm    string // site.yaml patched with warmTTLs
	miss    string // site.yaml patched with scoresMissTTLs
	log     io.Writer
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.from != "" {
		res, err := readResults(o.from, o)
		if err != nil {
			return err
		}
		return report(stdout, os.Stderr, res, o)
	}
	dir, err := os.MkdirTemp("", "benchsuite-")
	if err != nil {
		return err
	}
	if !o.keepLogs {
		defer os.RemoveAll(dir)
	}
	s := &suite{o: o, dir: dir, log: os.Stderr}

	site, err := os.ReadFile(o.site)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		path *string
		name string
		ttls map[string]harness.TTL
	}{{&s.warm, "site-warm.yaml", warmTTLs}, {&s.miss, "site-scores-miss.yaml", scoresMissTTLs}} {
		patched, err := harness.PatchTTLs(site, c.ttls)
		if err != nil {
			return err
		}
		*c.path = filepath.Join(dir, c.name)
		if err := os.WriteFile(*c.path, patched, 0o644); err != nil {
			return err
		}
	}

	for _, b := range []struct {
		path *string
		flag string
		pkg  string
		need bool
	}{{&s.bin, o.composerBin, "./cmd/composer", true}, {&s.fragsim, o.fragsimBin, "./cmd/fragsim", o.remoteSelected()}} {
		*b.path = b.flag
		if *b.path != "" || !b.need {
			continue
		}
		*b.path = filepath.Join(dir, filepath.Base(b.pkg))
		fmt.Fprintf(s.log, "building %s in %s\n", b.pkg, o.src)
		if err := harness.Build(ctx, o.src, b.pkg, *b.path, s.log); err != nil {
			return err
		}
	}

	res := &results{Machine: describeMachine(o), Options: recordOptions(o)}
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(s.log, "[%s] "+format+"\n", append([]any{time.Since(start).Round(time.Second)}, args...)...)
	}
	for r := range o.runs {
		if o.selected("scores") {
			for _, state := range o.states {
				for _, size := range o.sizes {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					logf("run %d/%d  %-5s size %5d", r+1, o.runs, state, size)
					c := s.cell(ctx, r, state, size)
					if c.Err != "" {
						fmt.Fprintf(s.log, "    error: %s\n", c.Err)
					} else {
						fmt.Fprintf(s.log, "    %.0f req/s (floor %.0f, ratio %.2f)  TTLB p50 %.2fms p99 %.2fms  errors %d  check incomplete %d\n",
							c.Target.Throughput, c.Floor.Throughput, c.Ratio,
							loadtest.Millis(c.Target.TTLB.P50), loadtest.Millis(c.Target.TTLB.P99), c.Target.Errors, checkErrors(&c))
					}
					res.Cells = append(res.Cells, c)
				}
			}
		}
		if err := s.runWorkloads(ctx, r, res, logf); err != nil {
			return err
		}
	}
	res.Medians = medians(res.Cells, o)
	res.Finished = time.Now().UTC().Format(time.RFC3339)
	res.LoadEnd = loadAverage()
	if err := report(stdout, s.log, res, o); err != nil {
		return err
	}
	if o.keepLogs {
		fmt.Fprintf(s.log, "logs and configuration kept in %s\n", dir)
	}
	return nil
}

// report writes res as Markdown to stdout and to -md, as JSON to -json and
// as plots into -plots, naming the plots it wrote on log.
func report(stdout, log io.Writer, res *results, o *options) error {
	var md strings.Builder
	writeMarkdown(&md, res, o)
	io.WriteString(stdout, md.String())
	if o.mdPath != "" {
		if err := os.WriteFile(o.mdPath, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.plotsDir != "" {
		paths, err := writePlots(o.plotsDir, res, o)
		if err != nil {
			return err
		}
		for _, p := range paths {
			fmt.Fprintf(log, "wrote %s\n", p)
		}
	}
	return nil
}

// startComposer starts the composer with args (and -addr) on a free
// loopback port, its log in the suite's directory under name, and waits
// until it is ready. It returns the process and its base URL.
func (s *suite) startComposer(ctx context.Context, name string, args []string) (*harness.Proc, string, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cp, err := harness.Start("composer", s.bin, append([]string{"-addr", addr}, args...), s.composerLog(name))
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := harness.WaitHTTP(ctx, cp, base+"/readyz", 10*time.Second); err != nil {
		cp.Stop()
		return nil, "", err
	}
	return cp, base, nil
}

// composerLog is the log file of the composer started under name.
func (s *suite) composerLog(name string) string { return filepath.Join(s.dir, name+"-composer.log") }

// composerArgs are the composer's flags for state, but -addr.
func (s *suite) composerArgs(state, redisURL string) []string {
	config := s.warm
	if state == "hang" {
		config = s.miss
	}
	// The demo league's goal events would re-render scores mid-measure.
	// No admission: the suite measures what the composer does with every
	// request it is sent (cmd/chaos measures the shedding).
	args := []string{"-config", config, "-log-level", "warn", "-feed-slow-every", "0", "-demo-league", "0",
		"-max-pages", "0", "-includes-in-flight", "0"}
	switch state {
	case "l1":
		args = append(args, "-feed-latency", "0")
	case "redis":
		args = append(args, "-feed-latency", "0", "-l1-mb", "0", "-redis", redisURL)
	case "cold":
		args = append(args, "-feed-latency", s.o.coldLatency.String(), "-l1-mb", "0")
	case "hang":
		args = append(args, "-feed-latency", "0", "-feed-hang-every", strconv.Itoa(s.o.hangEvery))
	case "hangcold":
		args = append(args, "-feed-latency", "0", "-l1-mb", "0", "-feed-hang-every", strconv.Itoa(s.o.hangEvery))
	}
	return args
}

// fetchReference fetches the page whose bytes the floor serves, trying up
// to five times, wait apart: right after the warm-up of a saturating cell
// (cold 10,000 includes at c=16) the composer may answer one request 503
// (a primary it could not compute in time), and the reference bytes are not
// the measurement — the target run counts its 503s as errors.
func fetchReference(ctx context.Context, url string, wait time.Duration) (loadtest.Page, error) {
	var err error
	for range 5 {
		var page loadtest.Page
		if page, err = loadtest.FetchPage(ctx, nil, url); err == nil {
			return page, nil
		}
		select {
		case <-ctx.Done():
			return loadtest.Page{}, ctx.Err()
		case <-time.After(wait):
		}
	}
	return loadtest.Page{}, err
}
