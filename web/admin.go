package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/tuning"
	"github.com/broadsheet/broadsheet/web/csp"
	"github.com/broadsheet/broadsheet/web/static"
)

// Live tuning, under /_/admin:
//
//	GET  /_/admin                          the admin page (401 and a login form without credentials)
//	POST /_/admin/login                    token=… → session cookie, 303 to /_/admin
//	POST /_/admin/logout                   drops the cookie
//	POST /_/admin/fragments/{name}         timeout, fresh, stale, fail_hold, fallback, primary, disabled; purge=on also purges its entries
//	POST /_/admin/fragments/{name}/reset   back to site.yaml
//	POST /_/admin/fragments/{name}/purge   drops the fragment's cache entries everywhere
//
// It is off (404) unless Options.AdminToken and Options.Tuner are set.
// Credentials are the token as "Authorization: Bearer <token>" or the
// session cookie the login form sets (session.go): a random id, live for
// 12 hours or until log-out, never the token. The token is compared in
// constant time, under a backoff per client and overall (backoff.go).
// Every POST goes through http.CrossOriginProtection: a cross-site
// browser request is a 403 whatever its credentials; the cookie is
// SameSite=Strict besides.
//
// A POST to /fragments/{name} changes only the fields it carries. The form
// sends each checkbox as a hidden "off" followed by the checkbox's "on", and
// the last value wins. A change applies from the fragment's next call:
// entries already cached keep the times they were made with (cacheNote);
// purge=on applies it to them in the same step, by purging them after the
// change is in force.

const (
	sessionCookie = "bs_admin"
	maxAdminForm  = 64 << 10
)

func (s *Server) adminEnabled() bool { return s.opts.AdminToken != "" && s.opts.Tuner != nil }

// adminRoutes is the /_/admin subtree, mounted on the public router or on
// AdminHandler's.
func (s *Server) adminRoutes() http.Handler {
	r := chi.NewRouter()
	if !s.adminEnabled() {
		r.HandleFunc("/*", func(w http.ResponseWriter, r *http.Request) {
			s.errorPage(w, r, http.StatusNotFound, "There is nothing at this address.")
		})
		return r
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Logger(r.Context()).Warn("web: cross-origin admin request refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		s.errorPage(w, r, http.StatusForbidden, "Cross-site requests to the admin page are refused.")
	}))
	r.Use(cop.Handler)
	r.Use(noStore)
	r.Post("/login", s.adminLogin)
	r.Group(func(r chi.Router) {
		r.Use(s.requireAdmin)
		r.Get("/", s.adminPage)
		r.Post("/logout", s.adminLogout)
		r.Post("/fragments/{name}", s.adminUpdate)
		r.Post("/fragments/{name}/reset", s.adminReset)
		r.Post("/fragments/{name}/purge", s.adminPurge)
	})
	return r
}

// AdminHandler serves the admin page, /metrics, /_/events and pprof, for a
// listener of their own (Options.SeparateAdmin), with the same security
// headers as the site. pprof needs the admin token like the admin page
// (Authorization: Bearer, or the session cookie), and its cmdline
// endpoint is not served at all: the command line may hold secrets.
func (s *Server) AdminHandler() http.Handler {
	r := chi.NewRouter()
	r.Use(requestID)
	r.Use(s.accessLog)
	r.Use(s.recoverer)
	r.Use(securityHeaders(csp.Base))
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/_/admin", http.StatusFound)
	})
	r.Handle("/static/*", http.StripPrefix("/static/", static.Handler()))
	r.Mount("/_/admin", s.admin)
	if s.opts.Events != nil {
		r.Post("/_/events", s.events().ServeHTTP)
	}
	if s.opts.Metrics != nil {
		r.Handle("/metrics", s.opts.Metrics)
	}
	if s.adminEnabled() {
		r.With(s.requireAdmin).Group(s.explorerRoutes)
	}
	r.Group(func(r chi.Router) {
		r.Use(noStore, s.requireToken)
		r.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, r *http.Request) {
			s.errorPage(w, r, http.StatusNotFound, "The command line is not served: it may hold secrets.")
		})
		r.HandleFunc("/debug/pprof/", pprof.Index)
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
		r.HandleFunc("/debug/pprof/{profile}", pprof.Index)
	})
	return r
}

// events is the /_/events endpoint: the admin token, and no cross-origin
// browser request (http.CrossOriginProtection: Sec-Fetch-Site, else
// Origin against Host), so that a page elsewhere cannot make a signed-in
// admin's browser publish events. Machines sending neither header pass.
func (s *Server) events() http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Logger(r.Context()).Warn("web: cross-origin event refused", "origin", r.Header.Get("Origin"))
		s.errorPage(w, r, http.StatusForbidden, "Cross-site requests to the events endpoint are refused.")
	}))
	return cop.Handler(s.requireToken(s.opts.Events))
}

func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	v := s.adminView(r.Context())
	if name := r.URL.Query().Get("changed"); name != "" {
		if _, ok := s.comp.Site().Fragments[name]; ok {
			v.Flash = flash(name, v.Changes)
			v.Changed = name
		}
	}
	s.render(w, r, templates.AdminPage(v))
}

// flash says what the last action on fragment did, from the newest entries
// of the change log (newest first) that name it with one timestamp.
func flash(fragment string, log []templates.ChangeRow) string {
	var parts []string
	at := ""
	for _, c := range log {
		if c.Fragment != fragment {
			continue
		}
		if at == "" {
			at = c.At
		} else if c.At != at {
			break
		}
		switch c.Field {
		case "purge":
			parts = append(parts, "cache purged ("+c.New+")")
		case "reset":
			parts = append(parts, "reset to site.yaml")
		default:
			parts = append(parts, c.Field+" "+orNone(c.Old)+" → "+orNone(c.New))
		}
	}
	if len(parts) == 0 {
		return "Applied to " + fragment + ": nothing changed."
	}
	slices.Reverse(parts) // in the order they were made
	return "Applied to " + fragment + ": " + strings.Join(parts, ", ") + "."
}

func orNone(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

func (s *Server) adminView(ctx context.Context) templates.AdminView {
	site := s.comp.Site()
	base := s.opts.Tuner.Base()
	ceilings := budgetCeilings(site)
	v := templates.AdminView{Shared: s.opts.Shared}
	if s.opts.Redis != nil {
		v.Redis = s.opts.Redis.State()
	}
	for _, name := range site.FragmentNames() {
		f := site.Fragments[name]
		af := templates.AdminFragment{
			Name:     name,
			Timeout:  f.Settings.Timeout.String(),
			Fresh:    f.Settings.Fresh.String(),
			Stale:    f.Settings.Stale.String(),
			FailHold: tuning.Value(f.Settings, "fail_hold"),
			Fallback: f.Settings.Fallback,
			Primary:  f.Settings.Primary,
			Disabled: f.Settings.Disabled,
			Origin:   f.Origin,
			Base:     map[string]string{},
			Cache:    cacheNote(f),
		}
		if bf := base.Fragments[name]; bf != nil {
			for _, field := range tuning.Fields {
				af.Base[field] = tuning.Value(bf.Settings, field)
			}
		}
		for _, o := range f.Origin {
			af.Live = af.Live || o == tuning.OriginLive
		}
		if s.opts.Stats != nil {
			if snap, ok := s.opts.Stats.Fragment(name); ok {
				af.Stats = liveStats(&snap, f.Settings.Timeout, ceilings[name])
				af.Suggested = af.Stats.Suggested
			}
		}
		v.Fragments = append(v.Fragments, af)
	}
	for _, c := range s.opts.Tuner.Changes(ctx) {
		v.Changes = append(v.Changes, templates.ChangeRow{
			At: c.At.UTC().Format(time.RFC3339), Who: c.Who, Fragment: c.Fragment, Field: c.Field, Old: c.Old, New: c.New,
		})
	}
	return v
}

// adminFail shows the admin page with an error and status.
func (s *Server) adminFail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := s.adminView(r.Context())
	v.Error = msg
	s.renderStatus(w, r, status, templates.AdminPage(v))
}

func (s *Server) adminUpdate(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	f := s.comp.Site().Fragments[name]
	if f == nil {
		s.adminFail(w, r, http.StatusNotFound, fmt.Sprintf("There is no fragment %q.", name))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminForm)
	if err := r.ParseForm(); err != nil {
		s.adminFail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	want, err := formSettings(f.Settings, r)
	if err != nil {
		s.adminFail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	changes, err := s.opts.Tuner.Update(r.Context(), who(r), name, want)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	if vs := r.PostForm["purge"]; len(vs) > 0 && vs[len(vs)-1] == "on" {
		// Logged with the change's time, so that the page reports both
		// as one action.
		at := time.Now()
		if len(changes) > 0 {
			at = changes[0].At
		}
		if err := s.purge(r, name, at); err != nil {
			s.adminFail(w, r, http.StatusServiceUnavailable, "The change is in force, but the purge of its cached entries could not be announced; try Purge cache.")
			return
		}
	}
	http.Redirect(w, r, "/_/admin?changed="+name+"#f-"+name, http.StatusSeeOther)
}

// cacheNote says how long f's cached entries are served, and that a change
// of its settings reaches them only once they are replaced or purged.
func cacheNote(f *composer.Fragment) string {
	st := f.Settings
	if f.Spec.PerUser || f.Spec.NeedsReader {
		return "Its output varies per reader and is never cached: a change applies from its next call."
	}
	if st.Fresh+st.Stale <= 0 {
		return "Its results are not cached (fresh and stale are 0): a change applies from its next call."
	}
	return fmt.Sprintf("Cached entries are served for up to %s after they were made (fresh %s, then stale %s while one refresh runs). "+
		"A change of timeout, fresh, stale or fail_hold applies from its next call; entries already cached keep their times until they are "+
		"replaced, so a lowered timeout or a new fallback may not show for up to %s. Purge its entries to apply a change to them at once.",
		st.Fresh+st.Stale, st.Fresh, st.Stale, st.Fresh+st.Stale)
}

func (s *Server) adminError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, tuning.ErrUnknownFragment):
		s.adminFail(w, r, http.StatusNotFound, "There is no such fragment.")
	case errors.Is(err, tuning.ErrInvalid):
		s.adminFail(w, r, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "tuning: "))
	default:
		Logger(r.Context()).Error("web: admin change failed", "err", err)
		s.adminFail(w, r, http.StatusServiceUnavailable, "The change could not be stored; nothing was changed. Try again.")
	}
}

// formSettings returns cur with the fields the form carries replaced.
// fail_hold is written as in site.yaml (0s: off) and stored in want as
// composer.Settings means it (composer.FailHoldSetting); bounds are
// tuning.Override.Validate's, except a negative fail_hold, refused here
// because Settings would read it as "off".
func formSettings(cur composer.Settings, r *http.Request) (composer.Settings, error) {
	want := cur
	var failHold time.Duration
	for _, field := range []struct {
		name string
		dst  *time.Duration
	}{{"timeout", &want.Timeout}, {"fresh", &want.Fresh}, {"stale", &want.Stale}, {"fail_hold", &failHold}} {
		vs, ok := r.PostForm[field.name]
		if !ok {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(vs[len(vs)-1]))
		if err != nil {
			return cur, fmt.Errorf("%s: %q is not a duration (e.g. 150ms, 2s, 5m)", field.name, vs[len(vs)-1])
		}
		*field.dst = d
	}
	if _, ok := r.PostForm["fail_hold"]; ok {
		if failHold < 0 {
			return cur, fmt.Errorf("fail_hold: %s is negative (0s turns the hold off)", failHold)
		}
		want.FailHold = composer.FailHoldSetting(failHold)
	}
	if vs, ok := r.PostForm["fallback"]; ok {
		want.Fallback = vs[len(vs)-1]
	}
	for _, field := range []struct {
		name string
		dst  *bool
	}{{"primary", &want.Primary}, {"disabled", &want.Disabled}} {
		vs, ok := r.PostForm[field.name]
		if !ok {
			continue
		}
		switch v := vs[len(vs)-1]; v {
		case "on", "true", "1":
			*field.dst = true
		case "off", "false", "0", "":
			*field.dst = false
		default:
			return cur, fmt.Errorf("%s: %q is not on or off", field.name, v)
		}
	}
	return want, nil
}

func (s *Server) adminReset(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if _, err := s.opts.Tuner.Reset(r.Context(), who(r), name); err != nil {
		s.adminError(w, r, err)
		return
	}
	http.Redirect(w, r, "/_/admin?changed="+name+"#f-"+name, http.StatusSeeOther)
}

func (s *Server) adminPurge(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if s.comp.Site().Fragments[name] == nil {
		s.adminFail(w, r, http.StatusNotFound, fmt.Sprintf("There is no fragment %q.", name))
		return
	}
	if err := s.purge(r, name, time.Now()); err != nil {
		s.adminFail(w, r, http.StatusServiceUnavailable, "The purge could not be announced; try again.")
		return
	}
	http.Redirect(w, r, "/_/admin?changed="+name+"#f-"+name, http.StatusSeeOther)
}

// purge invalidates fragment name's entries on every instance and records
// it in the change log at time at.
func (s *Server) purge(r *http.Request, name string, at time.Time) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	gen, err := s.comp.PurgeFragment(ctx, name)
	if err != nil {
		Logger(r.Context()).Error("web: purge failed", "fragment", name, "err", err)
		return err
	}
	s.opts.Tuner.Record(r.Context(), tuning.Change{At: at, Who: who(r), Fragment: name, Field: "purge", Old: "", New: fmt.Sprintf("generation %d", gen)})
	return nil
}
