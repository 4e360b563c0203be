package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/broadsheet/broadsheet/internal/telemetry"
	"github.com/broadsheet/broadsheet/web"
)

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

// listener is one http.Server on its own address, shut down gracefully.
type listener struct {
	name string
	hs   *http.Server
	ln   net.Listener
}

// newListener listens on addr and configures the http.Server for h. lim,
// when not nil, bounds the connections open at once (see connLimit).
func newListener(name, addr string, h http.Handler, lim *connLimit, log *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	ln = limitListener(ln, lim)
	h = writeDeadlines(h, writeTimeout)
	if lim.on() && lim.max > 0 {
		h = markBusy(h)
	}
	return &listener{name: name, ln: ln, hs: &http.Server{
		Handler:           h,
		ConnContext:       connContext,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}, nil
}

// serve runs the server until it is shut down; errc receives its error,
// unless it was shut down.
func (l *listener) serve(errc chan<- error) {
	go func() {
		if err := l.hs.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%s listener: %w", l.name, err)
		}
	}()
}

func (l *listener) shutdown(ctx context.Context) error {
	if err := l.hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s listener: %w", l.name, err)
	}
	return nil
}
