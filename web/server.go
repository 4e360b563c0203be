// Package web is Broadsheet's HTTP surface: the routes of the configured
// pages, the page index and fragment explorer, live tuning (the admin
// page), /metrics, pprof, health and static files.
//
// Two handlers: the Server itself (public pages, explorer, and — unless
// Options.SeparateAdmin — the admin page and /metrics) and AdminHandler
// (admin page, /metrics, /_/events and pprof behind the admin token, for a
// separate listener).
package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/events"
	"github.com/broadsheet/broadsheet/internal/clientip"
	"github.com/broadsheet/broadsheet/metrics"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/tuning"
	"github.com/broadsheet/broadsheet/web/csp"
	"github.com/broadsheet/broadsheet/web/session"
	"github.com/broadsheet/broadsheet/web/static"
)

// Server routes requests to the composer. Its routes follow the site
// configuration: Reload swaps them atomically.
type Server struct {
	comp   *composer.Composer
	log    *slog.Logger
	opts   Options
	router atomic.Pointer[chi.Mux]
	admin  http.Handler // the /_/admin subtree
	// ready and draining are what /readyz reports (see readyz).
	ready    atomic.Bool
	draining atomic.Bool
	// readerKey signs reader cookies.
	readerKey []byte
	// sessions holds admin sessions, readerOuts signed-out reader cookies.
	sessions, readerOuts session.Store
	// logins throttles wrong admin tokens; renders, the explorer's calls
	// of a fragment alone by visitors other than the admin.
	logins  *backoff
	renders *rates
	// requests limits each client's request rate (Options.ClientRate);
	// nil: no limit.
	requests *rates
}

// Options are what a Server serves beside pages. The zero value serves
// pages, the page index and the explorer without live figures; no admin
// page, no /metrics, no pprof.
type Options struct {
	Logger *slog.Logger
	// Stats is the composer's Observer; the explorer shows its figures and
	// Reload tells it of every new Site.
	Stats *metrics.Observer
	// Tuner makes live changes; the admin page needs it.
	Tuner *tuning.Manager
	// Shared says the Tuner's Store reaches every instance (Redis).
	Shared bool
	// Redis, when the composer has a shared tier, gives its circuit
	// breaker's state ("closed", "half-open" or "open"), shown on the admin
	// page.
	Redis interface{ State() string }
	// RequireRedis makes /readyz fail while Redis's circuit breaker is
	// open. Off by default: pages render without Redis, and taking every
	// instance out of its load balancer because Redis is down would turn
	// a slower site into none.
	RequireRedis bool
	// AdminToken turns the admin page on. Empty: /_/admin answers 404.
	AdminToken string
	// SeparateAdmin serves the admin page and /metrics only from
	// AdminHandler (a listener of their own), not from the Server.
	SeparateAdmin bool
	// Metrics serves /metrics (on the admin listener when SeparateAdmin).
	Metrics http.Handler
	// Events accepts events POSTed to /_/events (authenticated like the
	// admin page); nil: no endpoint.
	Events http.Handler
	// LastEvent describes the last event that refreshed a fragment on this
	// instance, for the explorer; nil: not shown.
	LastEvent func(fragment string) (events.LastEvent, bool)
	// Guard bounds what a request may carry (see GuardOptions).
	Guard GuardOptions
	// SourceURL is where fragment source files are browsed: the explorer
	// links a fragment to SourceURL + its path in the repository (e.g.
	// "fragments/score.go"). Empty: the composer serves the file itself at
	// /_/fragments/{name}/source when it is on this machine.
	SourceURL string
	// ReaderSecret signs the reader cookie; empty: a random secret per
	// process.
	ReaderSecret []byte
	// ReaderPrevious is the reader key being rotated out: cookies it
	// signed are accepted until they expire; it signs none.
	ReaderPrevious []byte
	// Sessions holds admin sessions and signed-out reader cookies; nil:
	// this process's memory (10,000 sessions, 100,000 sign-outs). With a
	// store every instance shares (session.Redis), a log-out on one is a
	// log-out on all.
	Sessions session.Store
	// ClientIPHeader names the header a trusted proxy in front sets to the
	// client's address (X-Forwarded-For, X-Real-IP…), for per-client
	// limits; empty: the connection's peer address. Set it only behind
	// such a proxy: anywhere else a client could pick its own address.
	ClientIPHeader string
	// ClientRate is how many requests a second one client (see
	// ClientIPHeader) may make on average, ClientBurst how many at once;
	// beyond, 429 with Retry-After. 0: no limit.
	ClientRate  float64
	ClientBurst int
	// Now is the clock of cookies and backoffs; nil: time.Now.
	Now func() time.Time
}

// New returns a Server for comp's current site, with no admin page and no
// metrics.
func New(comp *composer.Composer, log *slog.Logger) *Server {
	return NewWithOptions(comp, Options{Logger: log})
}

// NewWithOptions returns a Server for comp's current site.
func NewWithOptions(comp *composer.Composer, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{comp: comp, log: opts.Logger, opts: opts, readerKey: readerSecret(opts.ReaderSecret),
		sessions: opts.Sessions, readerOuts: opts.Sessions, logins: loginBackoff(opts.Now),
		renders: newRates(renderRate, renderBurst, renderOverall, renderOverallB, opts.Now)}
	if opts.ClientRate > 0 {
		s.requests = newRates(opts.ClientRate, opts.ClientBurst, 0, 0, opts.Now)
	}
	if opts.Sessions == nil {
		s.sessions = session.NewMemory(10000, opts.Now)
		s.readerOuts = session.NewMemory(100000, opts.Now)
	}
	s.admin = s.adminRoutes()
	s.router.Store(s.routes(comp.Site()))
	return s
}

// Reload makes site the configuration in force for every later request.
// Calls must not overlap (the tuning.Manager serialises them).
func (s *Server) Reload(site *composer.Site) {
	if s.opts.Stats != nil {
		s.opts.Stats.SetSite(site) // before the first include of a new fragment
	}
	s.comp.SetSite(site)
	s.router.Store(s.routes(site))
}

type startKey struct{}

// ServeHTTP records when the request arrived (the page budget counts from
// then) and routes it with the router in force.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(context.WithValue(r.Context(), startKey{}, time.Now()))
	s.router.Load().ServeHTTP(w, r)
}

func (s *Server) routes(site *composer.Site) *chi.Mux {
	r := chi.NewRouter()
	r.Use(requestID)
	r.Use(s.accessLog)
	r.Use(s.recoverer)
	r.Use(securityHeaders(csp.ForSite(site)))
	if s.requests != nil {
		r.Use(s.limitClients)
	}
	r.Use(guard(s.opts.Guard, s.errorPage))
	r.Use(middleware.GetHead)
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/account", s.account)
	r.With(http.NewCrossOriginProtection().Handler).Post("/account", s.signIn)
	r.With(http.NewCrossOriginProtection().Handler).Post("/account/signout", s.signOut)
	r.Get("/_/pages", s.pagesIndex)
	r.With(s.explorerAccess).Group(s.explorerRoutes)
	if !s.opts.SeparateAdmin {
		if s.opts.Events != nil {
			r.Post("/_/events", s.events().ServeHTTP)
		}
		r.Mount("/_/admin", s.admin)
		if s.opts.Metrics != nil {
			r.Handle("/metrics", s.opts.Metrics)
		}
	}
	r.Handle("/static/*", http.StripPrefix("/static/", static.Handler()))
	for _, p := range site.Pages {
		r.Get(p.Path, s.page(p))
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "There is nothing at this address.")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "This address only answers GET.")
	})
	return r
}

// page serves one configured page.
func (s *Server) page(p *composer.Page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start, _ := r.Context().Value(startKey{}).(time.Time)
		route, ok := routeValues(r)
		if !ok {
			s.errorPage(w, r, http.StatusBadRequest, "This address is not valid.")
			return
		}
		q := r.URL.Query()
		// The per-include overlay is for sites that allow it (site.yaml's
		// debug) or for whoever holds the admin token.
		debug := q.Get("debug") == "1" && (s.comp.Site().Limits.Debug || s.isAdmin(r))
		s.comp.Serve(w, r, composer.Request{
			Page:   p,
			Route:  route,
			Query:  q,
			Start:  start,
			Debug:  debug,
			Nonce:  NonceFrom(r.Context()),
			Reader: s.readerOf(r),
		})
	}
}

// routeValues returns the route's values as the client meant them, decoded
// exactly once. chi matches the escaped path when the request's path has
// escapes of its own (r.URL.RawPath), and its values are then still
// escaped: "x%3Fy" would reach a fragment, and a remote fragment's URL as
// "x%253Fy". ok is false for a value that does not decode.
func routeValues(r *http.Request) (map[string]string, bool) {
	route := map[string]string{}
	rc := chi.RouteContext(r.Context())
	if rc == nil {
		return route, true
	}
	for i, k := range rc.URLParams.Keys {
		if k == "*" {
			continue
		}
		v := rc.URLParams.Values[i]
		if r.URL.RawPath != "" {
			var err error
			if v, err = url.PathUnescape(v); err != nil {
				return nil, false
			}
		}
		route[k] = v
	}
	return route, true
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, c templ.Component) {
	s.renderStatus(w, r, http.StatusOK, c)
}

// renderStatus renders a tool page into a buffer, so that a failure is a
// readable 500 rather than half a page, and so that Server-Timing can say
// how long it took.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	t0 := time.Now()
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		Logger(r.Context()).Error("web: render failed", "path", r.URL.Path, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "This page could not be rendered.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Server-Timing", "render;dur="+strconv.FormatFloat(float64(time.Since(t0).Microseconds())/1000, 'f', 2, 64))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = templates.ErrorPage(status, http.StatusText(status), msg).Render(r.Context(), w)
}

func (s *Server) now() time.Time { return s.opts.Now() }

// clientKey names r's client for per-client limits (clientip.OfRequest).
func (s *Server) clientKey(r *http.Request) string {
	return clientip.OfRequest(r, s.opts.ClientIPHeader)
}

// Site returns the configuration in force.
func (s *Server) Site() *composer.Site { return s.comp.Site() }
