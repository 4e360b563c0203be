// Command fragmentd serves registered fragments over HTTP, so that a
// fragment can run as its own service with the same code as in the
// composer:
//
//	go run ./cmd/fragmentd -addr 127.0.0.1:9101 -only score
//
// and, in site.yaml:
//
//	fragments:
//	  score:
//	    remote: {url: "http://127.0.0.1:9101/fragments/score?match={match}"}
//
// It answers /fragments/{name}?params (see remote.Handler), batches of
// those at POST /fragments/_batch (for fragments a composer declares
// remote with batch: true; each item counted in the metrics under its
// fragment, as a GET), /healthz and /metrics (Prometheus). Without -only it serves every registered
// fragment. On SIGINT or SIGTERM it stops accepting connections and
// finishes the requests in progress (up to 10s).
//
// With -otlp-endpoint each request is a span, a child of the composer's
// when the request carries a W3C traceparent (the composer sends one when
// its own tracing is on), and its log lines carry trace_id and span_id;
// -log-format json writes them for machines. -version prints the build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/internal/buildinfo"
	"github.com/broadsheet/broadsheet/internal/telemetry"
	"github.com/broadsheet/broadsheet/remote"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fragmentd:", err)
		os.Exit(1)
	}
}

type options struct {
	addr            string
	only            string
	logLevel        string
	logFormat       string
	otlp            string
	version         bool
	maxBody         int
	fragmentLatency time.Duration
	fragmentTimeout time.Duration
	feedLatency     time.Duration
	feedSlow        int
	feedSlowFor     time.Duration
	feedHang        int
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("fragmentd", flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9101", "listen address (port 0 picks a free port; the address is printed)")
	fs.StringVar(&o.only, "only", "", "comma-separated fragments to serve (default: every registered fragment)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.otlp, "otlp-endpoint", "", "OTLP/HTTP endpoint for traces, e.g. http://127.0.0.1:4318 (empty: tracing off)")
	fs.BoolVar(&o.version, "version", false, "print the version, VCS revision and Go version, and exit")
	fs.IntVar(&o.maxBody, "max-fragment-bytes", composer.DefaultLimits.MaxFragmentBytes, "largest HTML one fragment may answer")
	fs.DurationVar(&o.fragmentLatency, "fragment-latency", 0, "added to every fragment request (to simulate a slower service)")
	fs.DurationVar(&o.fragmentTimeout, "fragment-timeout", 0, "timeout of every fragment served, replacing each one's own (0: their own; benchmarks)")
	fs.DurationVar(&o.feedLatency, "feed-latency", 2*time.Millisecond, "demo feed: latency of every call")
	fs.IntVar(&o.feedSlow, "feed-slow-every", 50, "demo feed: one call in N is slow (0: never)")
	fs.DurationVar(&o.feedSlowFor, "feed-slow-latency", 120*time.Millisecond, "demo feed: extra latency of a slow call")
	fs.IntVar(&o.feedHang, "feed-hang-every", 0, "demo feed: one call in N hangs until its timeout (0: never)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.fragmentTimeout < 0 {
		return nil, fmt.Errorf("-fragment-timeout: %v is negative", o.fragmentTimeout)
	}
	return o, nil
}

// pick returns the registered fragments named in only (all when empty).
func pick(all []*composer.Spec, only string) ([]*composer.Spec, error) {
	if strings.TrimSpace(only) == "" {
		return all, nil
	}
	byName := map[string]*composer.Spec{}
	var names []string
	for _, s := range all {
		byName[s.Name] = s
		names = append(names, s.Name)
	}
	var out []*composer.Spec
	seen := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		s := byName[n]
		if s == nil {
			return nil, fmt.Errorf("-only: unknown fragment %q (registered: %s)", n, strings.Join(names, ", "))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// run serves until ctx ends or a signal arrives. It prints the address it
// listens on to out, as "fragmentd: serving http://ADDR", once it does.
func run(ctx context.Context, args []string, out *os.File) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(out, buildinfo.Read().Line("fragmentd"))
		return nil
	}
	log, err := telemetry.NewLogger(os.Stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	stopTracing, err := telemetry.SetupTracing(ctx, o.otlp, "broadsheet-fragmentd")
	if err != nil {
		return err
	}
	defer stopTracing()
	feed.Configure(feed.Options{Latency: o.feedLatency, SlowEvery: o.feedSlow, SlowLatency: o.feedSlowFor, HangEvery: o.feedHang})
	specs, err := pick(fragments.All(), o.only)
	if err != nil {
		return err
	}
	if o.fragmentTimeout > 0 {
		specs = withTimeout(specs, o.fragmentTimeout)
	}
	return serve(ctx, o, handler(specs, o, log), specs, out, log)
}

// withTimeout returns copies of specs whose default timeout is d: the
// registered specs stay as they are.
func withTimeout(specs []*composer.Spec, d time.Duration) []*composer.Spec {
	timed := make([]*composer.Spec, len(specs))
	for i, s := range specs {
		c := *s
		c.Defaults.Timeout = d
		timed[i] = &c
	}
	return timed
}

// handler returns fragmentd's routes: the fragments of specs under
// /fragments/, its own /metrics (requests and their duration by fragment,
// the Go runtime's and the build's) and /healthz.
func handler(specs []*composer.Spec, o *options, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Read().Collector())
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fragmentd_requests_total",
		Help: "Fragment requests by fragment and status code.",
	}, []string{"fragment", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fragmentd_request_duration_seconds",
		Help:    "Time to answer a fragment request, by fragment.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"fragment"})
	reg.MustRegister(requests, duration)
	observe := func(fragment string, status int, d time.Duration) {
		if fragment == "" {
			fragment = "_other" // unknown names never become labels
		}
		requests.WithLabelValues(fragment, strconv.Itoa(status)).Inc()
		duration.WithLabelValues(fragment).Observe(d.Seconds())
	}

	mux := http.NewServeMux()
	mux.Handle("/fragments/", remote.Handler(specs, remote.ServerOptions{
		MaxBodyBytes: o.maxBody, Latency: o.fragmentLatency, Observe: observe, Logger: log,
	}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// serve serves mux on o.addr until ctx ends or a signal arrives, then
// shuts down within 10 s. It prints the address it listens on to out, as
// "fragmentd: serving http://ADDR", once it does.
func serve(ctx context.Context, o *options, mux http.Handler, specs []*composer.Spec, out *os.File, log *slog.Logger) error {
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           telemetry.Handler(mux, "fragmentd", o.otlp != ""),
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      35 * time.Second, // above the longest fragment timeout
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	fmt.Fprintf(out, "fragmentd: serving http://%s\n", ln.Addr())
	log.Info("fragmentd: serving", "addr", "http://"+ln.Addr().String(), "fragments", strings.Join(names, ","))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("fragmentd: shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
