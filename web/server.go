// Package web is Broadsheet's HTTP surface: the routes of the configured
// pages, the page and fragment indexes, health and static files.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/web/static"
)

// Server routes requests to the composer. Its routes follow the site
// configuration: Reload swaps them atomically.
type Server struct {
	comp   *composer.Composer
	log    *slog.Logger
	router atomic.Pointer[chi.Mux]
	ready  atomic.Bool
}

// New returns a Server for comp's current site.
func New(comp *composer.Composer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{comp: comp, log: log}
	s.router.Store(s.routes(comp.Site()))
	return s
}

// Reload makes site the configuration in force for every later request.
func (s *Server) Reload(site *composer.Site) {
	s.comp.SetSite(site)
	s.router.Store(s.routes(site))
}

// SetReady marks the server as serving; /healthz answers 200 from then on.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

type startKey struct{}

// ServeHTTP records when the request arrived (the page budget counts from
// then) and routes it with the router in force.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(context.WithValue(r.Context(), startKey{}, time.Now()))
	s.router.Load().ServeHTTP(w, r)
}

func (s *Server) routes(site *composer.Site) *chi.Mux {
	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(s.recoverer)
	r.Use(middleware.GetHead)
	r.Get("/healthz", s.healthz)
	r.Get("/_/pages", s.pagesIndex)
	r.Get("/_/fragments", s.fragmentsIndex)
	r.Handle("/static/*", http.StripPrefix("/static/", staticHandler()))
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

func staticHandler() http.Handler {
	fs := http.FileServerFS(static.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fs.ServeHTTP(w, r)
	})
}

// page serves one configured page.
func (s *Server) page(p *composer.Page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start, _ := r.Context().Value(startKey{}).(time.Time)
		route := map[string]string{}
		if rc := chi.RouteContext(r.Context()); rc != nil {
			for i, k := range rc.URLParams.Keys {
				if k != "*" {
					route[k] = rc.URLParams.Values[i]
				}
			}
		}
		q := r.URL.Query()
		s.comp.Serve(w, r, composer.Request{
			Page:  p,
			Route: route,
			Query: q,
			Start: start,
			Debug: q.Get("debug") == "1",
		})
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("starting\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) pagesIndex(w http.ResponseWriter, r *http.Request) {
	site := s.comp.Site()
	links := make([]templates.PageLink, 0, len(site.Pages))
	for _, p := range site.Pages {
		links = append(links, templates.PageLink{Name: p.Name, Path: p.Path, Title: p.Title, Example: exampleURL(site, p)})
	}
	s.render(w, r, templates.PagesIndex(links))
}

// exampleURL fills a page path's placeholders with the example params of
// the fragments they feed, so that /weather/{city} links to /weather/london.
func exampleURL(site *composer.Site, p *composer.Page) string {
	path := p.Path
	for strings.Contains(path, "{") {
		i := strings.Index(path, "{")
		j := strings.Index(path[i:], "}")
		if j < 0 {
			break
		}
		name := path[i+1 : i+j]
		if k := strings.IndexByte(name, ':'); k >= 0 {
			name = name[:k]
		}
		val := "example"
	find:
		for _, inc := range p.Includes {
			for _, b := range inc.Params {
				if b.From == "route" && b.Value == name {
					if f := site.Fragments[inc.Fragment]; f != nil && f.Spec.Example[b.Name] != "" {
						val = f.Spec.Example[b.Name]
						break find
					}
				}
			}
		}
		path = path[:i] + val + path[i+j+1:]
	}
	return path
}

func (s *Server) fragmentsIndex(w http.ResponseWriter, r *http.Request) {
	site := s.comp.Site()
	rows := make([]templates.FragmentRow, 0, len(site.Fragments))
	for _, name := range site.FragmentNames() {
		rows = append(rows, fragmentRow(site.Fragments[name]))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	s.render(w, r, templates.FragmentsIndex(rows))
}

func fragmentRow(f *composer.Fragment) templates.FragmentRow {
	row := templates.FragmentRow{
		Name:     f.Spec.Name,
		Doc:      f.Spec.Doc,
		Source:   f.Spec.Source,
		Timeout:  f.Settings.Timeout.String(),
		Fresh:    f.Settings.Fresh.String(),
		Stale:    f.Settings.Stale.String(),
		Fallback: f.Settings.Fallback,
		Primary:  f.Settings.Primary,
		Disabled: f.Settings.Disabled,
		Origin:   f.Origin,
		Includes: f.Spec.Includes,
	}
	for _, p := range f.Spec.Params {
		row.Params = append(row.Params, templates.ParamRow{Name: p.Name, Pattern: p.Pattern, Default: p.Default, Doc: p.Doc, Required: p.Required, Values: p.Values})
	}
	return row
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := c.Render(r.Context(), w); err != nil {
		s.log.Warn("web: render failed", "path", r.URL.Path, "err", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = templates.ErrorPage(status, http.StatusText(status), msg).Render(r.Context(), w)
}

// recoverer turns a panic in a handler into a readable 500 page (when
// nothing was written yet) and a log line; it never lets one request take
// the process down. http.ErrAbortHandler is re-raised, as net/http expects.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("web: handler panicked", "path", r.URL.Path, "panic", v, "request_id", middleware.GetReqID(r.Context()))
				s.errorPage(w, r, http.StatusInternalServerError, "Something went wrong on our side.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
