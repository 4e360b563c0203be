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
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

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

// run runs the suite as args say (or, with -from, reports a results file
// again) and writes its report to stdout; its progress goes to stderr.
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
	if err := s.writeConfigs(); err != nil {
		return err
	}
	if err := s.buildBinaries(ctx); err != nil {
		return err
	}
	res := &results{Machine: describeMachine(o), Options: recordOptions(o)}
	if err := s.runAll(ctx, res); err != nil {
		return err
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

// writeConfigs writes -site patched for the warm states (warmTTLs) and for
// the hang state (scoresMissTTLs) into the suite's directory.
func (s *suite) writeConfigs() error {
	site, err := os.ReadFile(s.o.site)
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
		*c.path = filepath.Join(s.dir, c.name)
		if err := os.WriteFile(*c.path, patched, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// buildBinaries builds the composer, unless -composer names one, and the
// fragment service when a remote workload needs it, unless -fragsim names
// one, into the suite's directory.
func (s *suite) buildBinaries(ctx context.Context) error {
	o := s.o
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
		*b.path = filepath.Join(s.dir, filepath.Base(b.pkg))
		fmt.Fprintf(s.log, "building %s in %s\n", b.pkg, o.src)
		if err := harness.Build(ctx, o.src, b.pkg, *b.path, s.log); err != nil {
			return err
		}
	}
	return nil
}

// runAll runs -runs runs of the selected workloads into res, logging each
// cell's headline figures as it goes; it stops at the first error.
func (s *suite) runAll(ctx context.Context, res *results) error {
	o := s.o
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(s.log, "[%s] "+format+"\n", append([]any{time.Since(start).Round(time.Second)}, args...)...)
	}
	for r := range o.runs {
		if o.selected("scores") {
			if err := s.runMatrix(ctx, r, res, logf); err != nil {
				return err
			}
		}
		if err := s.runWorkloads(ctx, r, res, logf); err != nil {
			return err
		}
	}
	return nil
}

// runMatrix measures every state × size of the scores matrix once (run
// r) into res.Cells; it stops when ctx ends.
func (s *suite) runMatrix(ctx context.Context, r int, res *results, logf func(string, ...any)) error {
	o := s.o
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
	return nil
}
