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
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/events"
	"github.com/broadsheet/broadsheet/internal/buildinfo"
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
//
// Run starts the server in the steps below, in this order, and on return
// stops what they started in the reverse order (see instance.close).
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
	log, err := o.validate()
	if err != nil {
		return err
	}
	in := &instance{o: o, log: log}
	defer in.close()
	in.tuneMemory()
	if err := in.loadSite(site); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	in.onClose(cancel)
	if err := in.connectRedis(); err != nil {
		return err
	}
	if err := in.startTracing(ctx); err != nil {
		return err
	}
	in.startComposer(site)
	in.startEvents(ctx, site)
	in.attachShared(ctx)
	srv, err := in.startWeb(ctx)
	if err != nil {
		return err
	}
	// Once the first signal has started the drain, the next one stops the
	// process at once: serve gives the signals their default action again.
	return serve(ctx, o, srv, in.conns, log, cancel)
}
