package server

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/cdn"
	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/events"
	"github.com/broadsheet/broadsheet/internal/telemetry"
	"github.com/broadsheet/broadsheet/metrics"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/tuning"
	"github.com/broadsheet/broadsheet/web"
	"github.com/broadsheet/broadsheet/web/session"
)

// instance is one server being started by Run: the parts each step builds
// for the steps after it. Run's goroutine alone uses it.
type instance struct {
	o   *options
	log *slog.Logger
	// undo holds what stops each started part, in the order they started.
	undo []func()

	reg       config.Registry
	rc        *remote.Client
	cfg       *composer.Site
	obs       *metrics.Observer
	client    redis.UniversalClient // nil without -redis
	store     *redisstore.Store     // nil without -redis
	storeKeys *redisstore.Keys
	purger    *cdn.Purger // nil without a CDN to purge
	comp      *composer.Composer
	bus       events.Publisher
	handler   *events.Handler
	tstore    tuning.Store
	conns     *connLimit
}

// onClose adds stop to what close runs.
func (in *instance) onClose(stop func()) { in.undo = append(in.undo, stop) }

// close stops the started parts in the reverse order of their start: the
// config watch and live tuning first, the events and the composer next,
// the Redis client, the signal handling and the remote fragments' client
// after them, the memory tuning last.
func (in *instance) close() {
	for i := len(in.undo) - 1; i >= 0; i-- {
		in.undo[i]()
	}
}

// validate checks the options parseFlags cannot (-drain, the secrets'
// files, the client limits, -gc-headroom-mb) and returns the logger they
// configure. It warns on that logger about secrets given on the command
// line.
func (o *options) validate() (*slog.Logger, error) {
	if o.drain < 0 {
		return nil, fmt.Errorf("-drain: %v is negative", o.drain)
	}
	log, err := telemetry.NewLogger(os.Stderr, o.logFormat, o.logLevel)
	if err != nil {
		return nil, err
	}
	if err := o.loadSecrets(); err != nil {
		return nil, err
	}
	if err := o.clientOptions.check(); err != nil {
		return nil, err
	}
	o.warnCommandLine(log)
	if o.gcHeadroomMB < 0 {
		return nil, fmt.Errorf("-gc-headroom-mb: %d is negative", o.gcHeadroomMB)
	}
	return log, nil
}

// tuneMemory starts the GC tuner and sets the memory limit from the cache
// sizes, unless GOGC or GOMEMLIMIT (respectively) is set; close restores
// both.
func (in *instance) tuneMemory() {
	o := in.o
	_, gogcSet := os.LookupEnv("GOGC")
	in.onClose(startGCTuner(uint64(o.gcHeadroomMB)<<20, gogcSet, in.log))
	_, gomemlimitSet := os.LookupEnv("GOMEMLIMIT")
	in.onClose(setMemoryLimit(memoryLimit(max(o.l1MB, 0)<<20+max(o.stitchMB, 0)<<20, max(o.composeMB, 0)<<20, o.memLimitMB), gomemlimitSet, in.log))
}

// loadSite builds the site's registry, with the client of its remote
// fragments (closed by close), and parses its configuration: the -config
// file, or the site's built-in one. Its error names the line and field.
func (in *instance) loadSite(site Site) error {
	o := in.o
	in.reg = config.Registry{Specs: site.Fragments, Layouts: site.Layouts, Slots: site.Slots}
	in.rc = remote.New(remote.Options{MaxConnsPerHost: o.remoteConns, Logger: in.log, WrapTransport: telemetry.Transport(o.otlp != ""),
		BreakerFailures: o.breaker.BreakerFailures, BreakerOpen: o.breaker.BreakerOpen, BreakerProbes: o.breaker.BreakerProbes})
	in.onClose(in.rc.Close)
	in.reg.Remote = remoteFactory(in.rc)
	var err error
	if o.config == "" {
		name := cmp.Or(site.ConfigName, "site.yaml (built in)")
		in.cfg, err = config.Parse(name, site.Config, in.reg)
	} else {
		in.cfg, err = config.Load(o.config, in.reg)
	}
	return err
}

// connectRedis, with -redis, opens the Redis client (closed by close) and
// the signed store on it; then it opens the CDN purger, if one is
// configured (closed by close). Its errors never show the URL's password.
func (in *instance) connectRedis() error {
	o := in.o
	if o.redis != "" {
		client, err := redisstore.NewClient(o.redis)
		if err != nil {
			return fmt.Errorf("-redis: %s", scrub(err.Error(), urlSecrets(o.redis)...))
		}
		in.client = client
		in.onClose(func() { client.Close() })
		if in.storeKeys, err = redisstore.ParseKeys(os.Getenv("BROADSHEET_STORE_KEY")); err != nil {
			return fmt.Errorf("BROADSHEET_STORE_KEY: %w", err)
		}
		in.store = redisstore.New(client, redisstore.Options{Keys: in.storeKeys})
	}
	purger, err := o.purger(in.log, in.client)
	if err != nil {
		return err
	}
	if purger != nil {
		in.purger = purger
		in.onClose(func() { purger.Close() })
	}
	return nil
}

// startTracing installs the tracer provider with -otlp-endpoint (see
// setupTracing); close stops it.
func (in *instance) startTracing(ctx context.Context) error {
	stop, err := setupTracing(ctx, in.o.otlp, in.client)
	if err != nil {
		return err
	}
	in.onClose(stop)
	return nil
}

// startComposer creates the metrics observer and the composer (closed by
// close) with the options' cache sizes and limits, the store and purger
// of connectRedis, and the site's error page (Broadsheet's own when the
// site brings none).
func (in *instance) startComposer(site Site) {
	o := in.o
	errorPage := site.ErrorPage
	if errorPage == nil {
		errorPage = templates.ErrorPage
	}
	in.obs = metrics.New(in.cfg, metrics.Options{})
	copts := composer.Options{
		L1Bytes:             l1Bytes(o.l1MB),
		StitchBytes:         l1Bytes(o.stitchMB),
		ComposeBytes:        l1Bytes(o.composeMB),
		MaxIncludesInFlight: noLimit(o.includesIn),
		SchedTarget:         schedTarget(o.schedTarget),
		Layouts:             in.reg.Layouts,
		ErrorPage:           errorPage,
		Overlay:             templates.DebugOverlay,
		Logger:              in.log,
		Observer:            in.obs,
		SurrogateKeys:       o.keyCap(),
	}
	if in.store != nil {
		copts.Store = in.store
	}
	if in.purger != nil {
		copts.Purger = in.purger
	}
	in.comp = composer.New(in.cfg, copts)
	in.onClose(in.comp.Close)
}

// startEvents starts the events: a Redis stream for the deployment (its
// reader runs until ctx ends), or this instance's handler alone without
// -redis. Then it calls site.Start, with the events' publisher. close
// closes the handler, then waits for the stream's reader.
func (in *instance) startEvents(ctx context.Context, site Site) {
	if in.client != nil {
		rb := events.NewRedisBus(in.client, in.o.eventsGroup, in.log)
		handler := events.NewHandler(in.comp, rb, in.log)
		// The reader ends with its own context, cancelled by close: when
		// Run fails after this step, nothing else has cancelled ctx yet.
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { rb.Run(rctx, handler); close(done) }()
		in.onClose(func() { cancel(); <-done })
		in.handler, in.bus = handler, rb
	} else {
		in.handler = events.NewHandler(in.comp, nil, in.log)
		in.bus = events.LocalBus{H: in.handler}
	}
	in.onClose(in.handler.Close)
	in.handler.OnVisible = in.obs.EventVisible
	if site.Start != nil {
		site.Start(ctx, Env{Events: in.bus, Logger: in.log})
	}
}

// attachShared, with -redis, subscribes the composer to the deployment's
// invalidations (until close) and shares the live overrides through Redis,
// signed with BROADSHEET_STORE_KEY; without it, the overrides stay in
// memory. It logs the cache tiers in use.
func (in *instance) attachShared(ctx context.Context) {
	in.tstore = &tuning.Memory{}
	if in.client == nil {
		in.log.Info("cache: in-process tier only (no -redis given)", "l1_mb", in.o.l1MB)
		return
	}
	sub := redisstore.Attach(ctx, in.comp, in.client, in.log)
	in.onClose(func() { sub.Close() })
	in.tstore = tuning.NewRedis(in.client, in.log).Signed(in.storeKeys)
	in.log.Info("cache: in-process tier, then Redis", "l1_mb", in.o.l1MB, "redis", redactURL(in.o.redis))
}

// startWeb builds the web server with its /metrics, events and admin
// handlers (and, with -redis, the reader sessions in Redis), starts live tuning (stopped by close) and, with -config, the
// watch of the file (stopped by close), whose good reloads become the
// tuning's base configuration.
func (in *instance) startWeb(ctx context.Context) (*web.Server, error) {
	o, log := in.o, in.log
	wopts := web.Options{Logger: log, Stats: in.obs, AdminToken: o.adminToken, SeparateAdmin: o.adminAddr != "",
		Guard: web.GuardOptions{MaxInFlight: o.maxPages}, ReaderSecret: []byte(o.readerSecret), ReaderPrevious: []byte(o.readerPrevious), SourceURL: o.sourceURL,
		RequireRedis: o.requireRedis, ClientIPHeader: o.clientIPHeader, ClientRate: o.ratePerIP, ClientBurst: o.burstPerIP}
	if in.client != nil {
		wopts.Shared, wopts.Redis = true, in.store
		wopts.Sessions = session.NewRedis(in.client)
	}
	wopts.Events = events.HTTPHandler(in.bus, func(*http.Request) bool { return true }) // web checks the admin token first
	wopts.LastEvent = in.handler.Last
	in.conns = &connLimit{max: int64(o.maxConns), perIP: int64(o.maxConnsPerIP)}
	var err error
	if wopts.Metrics, err = metricsHandler(in.obs, in.comp, in.store, in.rc, in.conns, log); err != nil {
		return nil, err
	}

	// The Manager puts base config + live overrides in force through
	// srv.Reload; srv shows the Manager's state on the admin page.
	var srv *web.Server
	tuner := tuning.NewManager(in.cfg, in.tstore, func(s *composer.Site) { srv.Reload(s) }, log)
	wopts.Tuner = tuner
	srv = web.NewWithOptions(in.comp, wopts)
	in.onClose(tuner.Start(ctx))
	if o.config != "" {
		stop, err := config.Watch(o.config, in.reg, func(s *composer.Site) {
			tuner.SetBase(s)
			log.Info("config: reloaded", "file", o.config, "pages", len(s.Pages))
		}, func(err error) {
			log.Error("config: reload refused, keeping the last good configuration", "err", err)
		})
		if err != nil {
			return nil, err
		}
		in.onClose(stop)
	}
	if o.adminToken == "" {
		log.Info("admin: off (no -admin-token)")
	}
	return srv, nil
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
