// Package server runs a Broadsheet site: the composer, its cache tiers
// (in-process, and Redis with -redis), live tuning, the fragment explorer,
// events, metrics and tracing, configured by flags and BROADSHEET_
// environment variables. A site brings its fragments, its layouts and its
// site.yaml (a Site); Main serves it:
//
//	func main() {
//		server.Main(server.Site{
//			Name:      "news",
//			Fragments: fragments.All(),
//			Layouts:   layouts.Layouts(),
//			Slots:     layouts.Slots(),
//			Config:    siteYAML, // the built-in site.yaml (go:embed)
//		})
//	}
//
// The binary then takes the flags of Broadsheet's composer:
//
//	news [-addr 127.0.0.1:8080] [-config site.yaml]
//	    [-redis redis://127.0.0.1:6379/0 | redis+cluster://n1:7000,n2:7001,n3:7002]
//	    [-admin-token T] [-admin-addr 127.0.0.1:9090]
//	    [-otlp-endpoint http://127.0.0.1:4318]
//
// Every flag but -version and -healthcheck can also be set from the
// environment as BROADSHEET_ and the flag's name in upper case with '-' as
// '_' (BROADSHEET_ADDR, BROADSHEET_CONFIG…), a site's own flags (Site.Flags)
// too; a flag on the command line wins. Without -config the server serves
// Site.Config; with it, the file is watched and reloaded on change (a bad
// reload keeps the last good configuration and logs why).
//
// BROADSHEET_STORE_KEY, when set, is the key (or two keys, comma-separated,
// the signing one first) with which the Redis tier signs its entries and
// live overrides, and refuses those it did not sign (see
// redisstore.Keys); from the environment only, never a flag.
//
// Live tuning (/_/admin) is off unless -admin-token (or -admin-token-file)
// is set. With -admin-addr, the admin page, /metrics and pprof (behind the
// admin token) are served on that address only; without it, /_/admin and
// /metrics are on the public address and pprof is not served at all.
//
// SIGINT (Ctrl-C) or SIGTERM drains for -drain, then shuts down
// gracefully; a second signal meanwhile stops the process at once.
package server

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/events"
	"github.com/broadsheet/broadsheet/internal/buildinfo"
	"github.com/broadsheet/broadsheet/internal/telemetry"
	"github.com/broadsheet/broadsheet/metrics"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/tuning"
	"github.com/broadsheet/broadsheet/web"
	"github.com/broadsheet/broadsheet/web/session"
)

// Site is what a Broadsheet site brings to the server. Fragments, Layouts,
// Slots and Config are required.
type Site struct {
	// Name names the binary in its messages and -version ("composer").
	Name string
	// Fragments are the site's fragments (a composer.Registry's All).
	Fragments []*composer.Spec
	// Layouts are the page layouts site.yaml may name, and Slots the
	// slots each places (config.Registry).
	Layouts map[string]composer.Layout
	Slots   map[string][]string
	// ErrorPage renders the readable page of a 4xx or 5xx answer; nil:
	// Broadsheet's own (templates.ErrorPage).
	ErrorPage func(status int, title, message string) templ.Component
	// Config is the site.yaml served without -config, usually embedded in
	// the binary; ConfigName names it in errors ("site.yaml (built in)"
	// when empty).
	Config     []byte
	ConfigName string
	// Flags, when set, defines the site's own flags on fs, beside the
	// server's (each also read from its BROADSHEET_ variable).
	Flags func(fs *flag.FlagSet)
	// Start, when set, runs once the server is wired, before it serves:
	// for the site's own work in the background, until ctx ends (the
	// demo's league publishes its goals). It must not block.
	Start func(ctx context.Context, env Env)
}

// Env is what Site.Start is given.
type Env struct {
	// Events publishes events (the Redis stream with -redis, else this
	// instance's handler).
	Events events.Publisher
	Logger *slog.Logger
}

// Main runs site with the command line's arguments until SIGINT or SIGTERM
// and exits with status 1, after printing the error, if it fails.
func Main(site Site) {
	if err := Run(context.Background(), site, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", site.name(), err)
		os.Exit(1)
	}
}

func (s Site) name() string {
	if s.Name == "" {
		return "broadsheet"
	}
	return s.Name
}

// Run serves site with the flags in args until ctx ends or the process
// gets SIGINT or SIGTERM, then drains and shuts down. It returns an error
// for bad flags or configuration (naming the line and field), or when a
// listener fails.
func Run(ctx context.Context, site Site, args []string) error {
	o, err := parseFlags(site, args)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Println(buildinfo.Read().Line(site.name()))
		return nil
	}
	if o.healthcheck {
		return healthcheck(o.addr)
	}
	if o.drain < 0 {
		return fmt.Errorf("-drain: %v is negative", o.drain)
	}
	log, err := telemetry.NewLogger(os.Stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	if err := o.loadSecrets(); err != nil {
		return err
	}
	if err := o.clientOptions.check(); err != nil {
		return err
	}
	o.warnCommandLine(log)
	if o.gcHeadroomMB < 0 {
		return fmt.Errorf("-gc-headroom-mb: %d is negative", o.gcHeadroomMB)
	}
	_, gogcSet := os.LookupEnv("GOGC")
	defer startGCTuner(uint64(o.gcHeadroomMB)<<20, gogcSet, log)()
	_, gomemlimitSet := os.LookupEnv("GOMEMLIMIT")
	defer setMemoryLimit(memoryLimit(max(o.l1MB, 0)<<20+max(o.stitchMB, 0)<<20, max(o.composeMB, 0)<<20, o.memLimitMB), gomemlimitSet, log)()

	reg := config.Registry{Specs: site.Fragments, Layouts: site.Layouts, Slots: site.Slots}
	rc := remote.New(remote.Options{MaxConnsPerHost: o.remoteConns, Logger: log, WrapTransport: telemetry.Transport(o.otlp != ""),
		BreakerFailures: o.breaker.BreakerFailures, BreakerOpen: o.breaker.BreakerOpen, BreakerProbes: o.breaker.BreakerProbes})
	defer rc.Close()
	reg.Remote = remoteFactory(rc)
	var cfg *composer.Site
	if o.config == "" {
		name := cmp.Or(site.ConfigName, "site.yaml (built in)")
		cfg, err = config.Parse(name, site.Config, reg)
	} else {
		cfg, err = config.Load(o.config, reg)
	}
	if err != nil {
		return err
	}
	errorPage := site.ErrorPage
	if errorPage == nil {
		errorPage = templates.ErrorPage
	}

	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()

	obs := metrics.New(cfg, metrics.Options{})
	copts := composer.Options{
		L1Bytes:             l1Bytes(o.l1MB),
		StitchBytes:         l1Bytes(o.stitchMB),
		ComposeBytes:        l1Bytes(o.composeMB),
		MaxIncludesInFlight: noLimit(o.includesIn),
		SchedTarget:         schedTarget(o.schedTarget),
		Layouts:             reg.Layouts,
		ErrorPage:           errorPage,
		Overlay:             templates.DebugOverlay,
		Logger:              log,
		Observer:            obs,
		SurrogateKeys:       o.keyCap(),
	}
	var (
		client    redis.UniversalClient
		store     *redisstore.Store
		storeKeys *redisstore.Keys
	)
	if o.redis != "" {
		client, err = redisstore.NewClient(o.redis)
		if err != nil {
			return fmt.Errorf("-redis: %s", scrub(err.Error(), urlSecrets(o.redis)...))
		}
		defer client.Close()
		if storeKeys, err = redisstore.ParseKeys(os.Getenv("BROADSHEET_STORE_KEY")); err != nil {
			return fmt.Errorf("BROADSHEET_STORE_KEY: %w", err)
		}
		store = redisstore.New(client, redisstore.Options{Keys: storeKeys})
		copts.Store = store
	}
	if purger, err := o.purger(log, client); err != nil {
		return err
	} else if purger != nil {
		defer purger.Close()
		copts.Purger = purger
	}
	stopTracing, err := setupTracing(ctx, o.otlp, client)
	if err != nil {
		return err
	}
	defer stopTracing()
	comp := composer.New(cfg, copts)
	defer comp.Close()

	var tstore tuning.Store = &tuning.Memory{}
	wopts := web.Options{Logger: log, Stats: obs, AdminToken: o.adminToken, SeparateAdmin: o.adminAddr != "",
		Guard: web.GuardOptions{MaxInFlight: o.maxPages}, ReaderSecret: []byte(o.readerSecret), ReaderPrevious: []byte(o.readerPrevious), SourceURL: o.sourceURL,
		RequireRedis: o.requireRedis, ClientIPHeader: o.clientIPHeader, ClientRate: o.ratePerIP, ClientBurst: o.burstPerIP}

	// Events: a Redis stream for the deployment, or this instance alone.
	var bus events.Publisher
	var handler *events.Handler
	if client != nil {
		rb := events.NewRedisBus(client, o.eventsGroup, log)
		handler = events.NewHandler(comp, rb, log)
		done := make(chan struct{})
		go func() { rb.Run(ctx, handler); close(done) }()
		defer func() { <-done }() // after ctx ends (deferred cancel runs first)
		bus = rb
	} else {
		handler = events.NewHandler(comp, nil, log)
		bus = events.LocalBus{H: handler}
	}
	defer handler.Close()
	handler.OnVisible = obs.EventVisible
	wopts.Events = events.HTTPHandler(bus, func(*http.Request) bool { return true }) // web checks the admin token first
	wopts.LastEvent = handler.Last
	if site.Start != nil {
		site.Start(ctx, Env{Events: bus, Logger: log})
	}
	if client != nil {
		sub := redisstore.Attach(ctx, comp, client, log)
		defer sub.Close()
		tstore = tuning.NewRedis(client, log).Signed(storeKeys)
		wopts.Shared, wopts.Redis = true, store
		wopts.Sessions = session.NewRedis(client)
		log.Info("cache: in-process tier, then Redis", "l1_mb", o.l1MB, "redis", redactURL(o.redis))
	} else {
		log.Info("cache: in-process tier only (no -redis given)", "l1_mb", o.l1MB)
	}
	conns := &connLimit{max: int64(o.maxConns), perIP: int64(o.maxConnsPerIP)}
	if wopts.Metrics, err = metricsHandler(obs, comp, store, rc, conns, log); err != nil {
		return err
	}

	// The Manager puts base config + live overrides in force through
	// srv.Reload; srv shows the Manager's state on the admin page.
	var srv *web.Server
	tuner := tuning.NewManager(cfg, tstore, func(s *composer.Site) { srv.Reload(s) }, log)
	wopts.Tuner = tuner
	srv = web.NewWithOptions(comp, wopts)
	stopTuning := tuner.Start(ctx)
	defer stopTuning()
	if o.config != "" {
		stop, err := config.Watch(o.config, reg, func(s *composer.Site) {
			tuner.SetBase(s)
			log.Info("config: reloaded", "file", o.config, "pages", len(s.Pages))
		}, func(err error) {
			log.Error("config: reload refused, keeping the last good configuration", "err", err)
		})
		if err != nil {
			return err
		}
		defer stop()
	}
	if o.adminToken == "" {
		log.Info("admin: off (no -admin-token)")
	}
	// Once the first signal has started the drain, the next one stops the
	// process at once: serve gives the signals their default action again.
	return serve(ctx, o, srv, conns, log, cancel)
}

// serve runs the public listener (and the admin one, with -admin-addr)
// until ctx ends, then drains (/readyz fails, everything is still served,
// responses close their connections) for o.drain, and shuts them down
// gracefully.
//
// When ctx ends, serve calls stopSignals before anything else (signal
// handling returns to the default: a second SIGINT or SIGTERM kills).
func serve(ctx context.Context, o *options, srv *web.Server, conns *connLimit, log *slog.Logger, stopSignals func()) error {
	public, err := newListener("public", o.addr, telemetry.Handler(srv, "composer", o.otlp != ""), conns, log)
	if err != nil {
		return err
	}
	listeners := []*listener{public}
	if o.adminAddr != "" {
		admin, err := newListener("admin", o.adminAddr, srv.AdminHandler(), nil, log)
		if err != nil {
			public.ln.Close()
			return err
		}
		listeners = append(listeners, admin)
		log.Info("admin: serving /_/admin, /metrics and /debug/pprof", "addr", "http://"+admin.ln.Addr().String())
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		l.serve(errc)
	}
	srv.SetReady(true)
	site := srv.Site()
	log.Info("composer: serving", "addr", "http://"+public.ln.Addr().String(), "config", site.Source, "pages", len(site.Pages), "fragments", len(site.Fragments))

	var runErr error
	select {
	case runErr = <-errc:
	case <-ctx.Done():
	}
	stopSignals()
	if runErr == nil && o.drain > 0 {
		log.Info("composer: draining (a second signal stops at once)", "for", o.drain)
		srv.Drain()
		public.hs.SetKeepAlivesEnabled(false)
		t := time.NewTimer(o.drain)
		select {
		case <-t.C:
		case runErr = <-errc:
			t.Stop()
		}
	}
	log.Info("composer: shutting down")
	srv.Drain()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	for _, l := range listeners {
		if err := l.shutdown(sctx); err != nil && runErr == nil {
			runErr = err
		}
	}
	return runErr
}

// redactURL drops the password from a Redis URL for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// remoteFactory builds the Spec of a fragment site.yaml declares remote.
func remoteFactory(c *remote.Client) config.RemoteFactory {
	return func(name string, rc config.RemoteConfig, local *composer.Spec) (*composer.Spec, error) {
		return c.Spec(remote.Config{Name: name, URL: rc.URL, Params: rc.Params, Includes: rc.Includes, Local: local, Batch: rc.Batch, Sanitize: rc.Sanitize, H2C: rc.H2C, AssetOrigins: rc.AssetOrigins})
	}
}
