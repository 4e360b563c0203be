// The server's flags: their options, the environment that sets them
// (BROADSHEET_<FLAG>), and their translation into the composer's Options.

package server

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/remote"
)

type options struct {
	cdnOptions
	addr         string
	config       string
	redis        string
	l1MB         int64
	stitchMB     int64
	composeMB    int64
	includesIn   int64
	memLimitMB   int64
	logFormat    string
	logLevel     string
	eventsGroup  string
	maxPages     int
	schedTarget  time.Duration
	maxConns     int
	gcHeadroomMB int64
	readerSecret string
	sourceURL    string
	remoteConns  int
	breaker      remote.Options // the breaker's settings only
	adminToken   string
	adminAddr    string
	otlp         string
	version      bool
	drain        time.Duration
	requireRedis bool
	healthcheck  bool
	secretOptions
	clientOptions
}

// flagNames lists the server's flags and site's.
func flagNames(site Site) []string {
	fs, _ := newFlagSet(site)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

func parseFlags(site Site, args []string) (*options, error) {
	fs, o := newFlagSet(site)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.noteCommandLine(fs)
	if err := envFlags(fs); err != nil {
		return nil, err
	}
	return o, nil
}

func newFlagSet(site Site) (*flag.FlagSet, *options) {
	fs := flag.NewFlagSet(site.name(), flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.config, "config", "", "site configuration file (default: the demo site built in)")
	fs.StringVar(&o.redis, "redis", "", "Redis URL for the shared cache tier: redis://[:password@]host:port/db (rediss:// for TLS), redis+sentinel://[:password@]s1:26379,s2:26379/primary/db (Sentinel), redis+cluster://[:password@]n1:7000,n2:7001,n3:7002 (Redis Cluster); empty: in-process tier only")
	fs.Int64Var(&o.l1MB, "l1-mb", 64, "in-process cache size in MiB (0: off)")
	fs.Int64Var(&o.stitchMB, "stitch-mb", 16, "memory for stitched subtrees in MiB, beside the in-process cache: a parent whose includes all came fresh from cache is kept written out whole until one of them changes (0: off)")
	fs.Int64Var(&o.composeMB, "compose-mb", composer.DefaultComposeBytes>>20, "memory in MiB for the fragment results being made, past the first 64 KiB of each: a call that finds none left is refused at once, its include served stale or its fallback (0: no bound)")
	fs.Int64Var(&o.includesIn, "includes-in-flight", composer.DefaultMaxIncludesInFlight, "includes of the pages composed at once, each page counted at what it had recently; a page that does not fit is a quick 503 with Retry-After, unless it would be alone (0: no limit)")
	fs.Int64Var(&o.memLimitMB, "memory-limit-mb", 0, "the Go runtime's soft memory limit in MiB (0: the caches, -compose-mb and 128 MiB; -1: none; GOMEMLIMIT, when set, wins)")
	fs.Int64Var(&o.gcHeadroomMB, "gc-headroom-mb", 64, "let the heap grow by at least this many MiB between garbage collections (0: Go's default pace; ignored when GOGC is set)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.eventsGroup, "events-group", "broadsheet", "the deployment's consumer group on the Redis event stream (one per deployment)")
	fs.DurationVar(&o.schedTarget, "sched-target", 40*time.Millisecond, "lower the limit of fragment calls in flight while goroutines wait longer than this to run (p90 over 50 ms), so that pages are not queued behind calls the CPU cannot keep up with; the same readings give a call grace at its deadline while goroutines run late (0: neither)")
	fs.IntVar(&o.maxPages, "max-pages", defaultMaxPages, "pages composed at once before quick 503s with Retry-After (0: no limit)")
	fs.IntVar(&o.maxConns, "max-conns", defaultMaxConns, "connections open at once on -addr; each one over it is answered 503 with Retry-After and closed (0: no limit)")
	fs.StringVar(&o.readerSecret, "reader-secret", "", "key that signs reader cookies (empty: random per process)")
	fs.StringVar(&o.sourceURL, "source-url", "", "where the explorer links fragment sources: this URL + \"fragments/x.go\" (empty: served by the composer when the files are on this machine)")
	fs.StringVar(&o.adminToken, "admin-token", "", "token that turns on live tuning at /_/admin (empty: admin off)")
	fs.StringVar(&o.adminAddr, "admin-addr", "", "separate listen address for /_/admin, /metrics and pprof; bind it to a private interface (empty: admin and /metrics on -addr, no pprof)")
	fs.StringVar(&o.otlp, "otlp-endpoint", "", "OTLP/HTTP endpoint for traces, e.g. http://127.0.0.1:4318 (empty: tracing off)")
	fs.IntVar(&o.remoteConns, "remote-max-conns-per-host", remote.DefaultMaxConnsPerHost, "remote fragments: connections (and requests in flight) per fragment service; calls over it wait in the composer, within their page's budget, before their timeouts start")
	fs.IntVar(&o.breaker.BreakerFailures, "remote-breaker-failures", 5, "remote fragments: host failures in a row (refused, reset, broken or never-completed connections, 5xx; never a call's timeout nor a 429) that open a host's breaker")
	fs.DurationVar(&o.breaker.BreakerOpen, "remote-breaker-open", time.Second, "remote fragments: how long an open breaker fails calls before probing the host")
	fs.IntVar(&o.breaker.BreakerProbes, "remote-breaker-probes", 3, "remote fragments: requests a half-open breaker lets through; as many successes in a row close it")
	fs.BoolVar(&o.version, "version", false, "print the version, VCS revision and Go version, and exit")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "on SIGTERM, fail /readyz at once and go on serving for this long before shutting down, so that load balancers stop sending requests first (0: shut down at once)")
	fs.BoolVar(&o.requireRedis, "require-redis", false, "fail /readyz while Redis is unavailable (its circuit breaker open); pages render without it either way")
	fs.BoolVar(&o.healthcheck, "healthcheck", false, "GET /readyz of the composer at -addr and exit 0 if it is ready, 1 if not (a container health check for images without curl)")
	addSecretFlags(fs, &o.secretOptions)
	addClientFlags(fs, &o.clientOptions)
	addCDNFlags(fs, &o.cdnOptions)
	if site.Flags != nil {
		site.Flags(fs)
	}
	return fs, o
}

// envFlags sets every flag not given on the command line from its
// BROADSHEET_ environment variable.
func envFlags(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil || f.Name == "version" || f.Name == "healthcheck" {
			return
		}
		name := "BROADSHEET_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

// defaultMaxPages is -max-pages unless set: admission is on by default, so
// that what pages in flight hold is bounded (see memoryLimit). 64 pages at
// once is more than two cores compose within their budgets (the overload
// scenario of cmd/chaos sheds from there).
const defaultMaxPages = 64

// schedTarget turns -sched-target into Options.SchedTarget, where 0 is
// the default and negative is off.
func schedTarget(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// noLimit turns a flag where 0 means no limit into an Options field
// where 0 is the default and negative no limit.
func noLimit(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

func l1Bytes(mb int64) int64 {
	if mb <= 0 {
		return -1
	}
	return mb << 20
}
