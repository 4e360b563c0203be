package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/render"
	"github.com/broadsheet/broadsheet/metrics"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/tuning"
)

// The fragment explorer is read-only: /_/fragments lists every fragment
// with its settings and live figures, /_/fragments/{name} shows one, and
// /_/fragments/{name}/render calls it alone with the params of its query
// string (validated; invalid params are a 400 page naming the problem).
// It is the admin's (the admin token or session) unless site.yaml opens it
// to everyone (site.explorer: public). Visitors other than the admin see
// no error's text (it may name a fragment service's host), and may render
// a fragment alone — a call that no cache absorbs — only renderRate times
// a second each, renderOverall times a second all together.

const (
	renderRate, renderBurst       = 1, 5
	renderOverall, renderOverallB = 10, 20
)

// explorerRoutes adds the explorer's routes to r.
func (s *Server) explorerRoutes(r chi.Router) {
	r.Get("/_/fragments", s.fragmentsIndex)
	r.Get("/_/fragments/{name}", s.fragmentPage)
	r.Get("/_/fragments/{name}/render", s.renderAlone)
	r.Get("/_/fragments/{name}/source", s.fragmentSource)
}

// explorerAccess lets a request through to the explorer when the site
// opens it to everyone or the request is the admin's.
func (s *Server) explorerAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.comp.Site().Limits.PublicExplorer || s.isAdmin(r):
			next.ServeHTTP(w, r)
		case s.opts.AdminToken == "":
			s.errorPage(w, r, http.StatusNotFound, "There is nothing at this address.")
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="broadsheet-admin"`)
			s.errorPage(w, r, http.StatusUnauthorized, "The fragment explorer is open to the admin only: sign in at /_/admin.")
		}
	})
}

// hiddenError stands for an error's text where the viewer is not the admin.
const hiddenError = "(an error: its text is shown to the admin only)"

func (s *Server) fragmentsIndex(w http.ResponseWriter, r *http.Request) {
	site := s.comp.Site()
	ceilings := budgetCeilings(site)
	rows := make([]templates.FragmentRow, 0, len(site.Fragments))
	admin := s.isAdmin(r)
	for _, name := range site.FragmentNames() {
		rows = append(rows, s.fragmentRow(site.Limits, site.Fragments[name], ceilings[name], admin))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	s.render(w, r, templates.FragmentsIndex(rows))
}

// fragmentRow is f's row in the explorer; admin says whether the viewer
// may read error texts.
func (s *Server) fragmentRow(lim composer.Limits, f *composer.Fragment, ceiling time.Duration, admin bool) templates.FragmentRow {
	row := templates.FragmentRow{
		Name:      f.Spec.Name,
		Doc:       f.Spec.Doc,
		Source:    relSource(f.Spec.Source),
		SourceURL: s.sourceURL(f),
		Timeout:   f.Settings.Timeout.String(),
		Fresh:     f.Settings.Fresh.String(),
		Stale:     f.Settings.Stale.String(),
		FailHold:  tuning.Value(f.Settings, "fail_hold"),
		Fallback:  f.Settings.Fallback,
		Primary:   f.Settings.Primary,
		Disabled:  f.Settings.Disabled,
		MaxBytes:  strconv.Itoa(f.Settings.EffectiveMaxBytes(lim)),
		Origin:    f.Origin,
		Includes:  f.Spec.Includes,
	}
	for _, p := range f.Spec.Params {
		row.Params = append(row.Params, templates.ParamRow{Name: p.Name, Pattern: p.Pattern, Default: p.Default, Doc: p.Doc, Required: p.Required, Values: p.Values})
	}
	if s.opts.Stats != nil {
		if snap, ok := s.opts.Stats.Fragment(f.Spec.Name); ok {
			row.Live = liveStats(&snap, f.Settings.Timeout, ceiling)
			if !admin && row.Live.LastErr != "" {
				row.Live.LastErr = hiddenError
			}
		}
	}
	return row
}

// liveStats formats a snapshot for the explorer.
func liveStats(s *metrics.Snapshot, timeout, ceiling time.Duration) *templates.LiveStats {
	l := &templates.LiveStats{
		Window:   s.Window.String(),
		Includes: s.Includes,
		Calls:    s.Calls,
		P50:      ms(s.P50), P95: ms(s.P95), P99: ms(s.P99),
		CallP50: ms(s.CallP50), CallP95: ms(s.CallP95), CallP99: ms(s.CallP99),
		L1Ratio:    pct(s.L1Ratio()),
		StoreRatio: pct(s.StoreRatio()),
		LastErr:    s.LastErr,
		Ceiling:    ceiling.String(),
	}
	if !s.LastErrAt.IsZero() {
		l.LastErrAt = s.LastErrAt.UTC().Format(time.RFC3339)
	}
	for _, o := range composer.Outcomes() {
		l.Outcomes = append(l.Outcomes, templates.OutcomeCount{Name: o.String(), N: s.Outcome(o)})
	}
	if sug := metrics.SuggestTimeout(s.CallP99, ceiling); sug > 0 {
		l.Suggested = sug.String()
	}
	if timeout > 0 && s.Calls > 0 {
		p := int(100 * s.CallP99 / timeout)
		l.Over = p >= 100
		l.BarPct = min(max(p, 1), 100)
		l.BarP50Pct = min(max(int(100*s.CallP50/timeout), 1), l.BarPct)
	}
	return l
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func pct(f float64) string {
	if math.IsNaN(f) {
		return "–"
	}
	return strconv.FormatFloat(100*f, 'f', 1, 64) + " %"
}

// budgetCeilings returns, per fragment, the smallest budget of the pages
// whose include graph reaches it (directly or nested); fragments no page
// uses get the site budget.
func budgetCeilings(site *composer.Site) map[string]time.Duration {
	out := make(map[string]time.Duration, len(site.Fragments))
	for _, p := range site.Pages {
		budget := p.Budget
		if budget <= 0 {
			budget = site.Limits.Budget
		}
		seen := map[string]bool{}
		var walk func(name string)
		walk = func(name string) {
			if seen[name] {
				return
			}
			seen[name] = true
			if cur, ok := out[name]; !ok || budget < cur {
				out[name] = budget
			}
			if f := site.Fragments[name]; f != nil {
				for _, inc := range f.Spec.Includes {
					walk(inc)
				}
			}
		}
		for _, inc := range p.Includes {
			walk(inc.Fragment)
		}
	}
	for name := range site.Fragments {
		if _, ok := out[name]; !ok {
			out[name] = site.Limits.Budget
		}
	}
	return out
}

func (s *Server) fragmentDetail(site *composer.Site, f *composer.Fragment, values map[string]string, admin bool) templates.FragmentDetail {
	ceiling := budgetCeilings(site)[f.Spec.Name]
	d := templates.FragmentDetail{Row: s.fragmentRow(site.Limits, f, ceiling, admin), Cache: cacheNote(f)}
	d.Live = d.Row.Live
	for _, e := range f.Spec.Events {
		d.Events = append(d.Events, e.Topic)
	}
	if s.opts.LastEvent != nil {
		if l, ok := s.opts.LastEvent(f.Spec.Name); ok {
			d.LastEvent = fmt.Sprintf("%s %s at %s, visible here %s after publication", l.Event.Topic, l.Key,
				l.When.UTC().Format("15:04:05"), l.Visible.Round(time.Millisecond))
		}
	}
	for _, p := range f.Spec.Params {
		v, ok := values[p.Name]
		if !ok {
			v = f.Spec.Example[p.Name]
		}
		d.Fields = append(d.Fields, templates.FormField{
			Name: p.Name, Value: v, Pattern: p.Pattern, Doc: p.Doc, Default: p.Default,
			Required: p.Required, Values: p.Values, MaxLen: p.MaxLen,
		})
	}
	return d
}

func (s *Server) lookupFragment(w http.ResponseWriter, r *http.Request) (*composer.Site, *composer.Fragment) {
	site := s.comp.Site()
	f := site.Fragments[chi.URLParam(r, "name")]
	if f == nil {
		s.errorPage(w, r, http.StatusNotFound, "There is no fragment of that name.")
	}
	return site, f
}

func (s *Server) fragmentPage(w http.ResponseWriter, r *http.Request) {
	site, f := s.lookupFragment(w, r)
	if f == nil {
		return
	}
	s.render(w, r, templates.FragmentPage(s.fragmentDetail(site, f, nil, s.isAdmin(r))))
}

// renderAlone calls the fragment once with the query's params, under its
// timeout, bypassing the caches and the kill switch's fallback only in the
// sense that it says so: a disabled fragment is not called. Nested includes
// are not composed; their tags are shown as they are. A visitor other than
// the admin is held to s.renders (429 beyond) and sees what kind of
// failure a call had, not its error's text.
func (s *Server) renderAlone(w http.ResponseWriter, r *http.Request) {
	site, f := s.lookupFragment(w, r)
	if f == nil {
		return
	}
	admin := s.isAdmin(r)
	if !admin {
		if ok, retry := s.renders.allow(s.clientKey(r)); !ok {
			retryAfter(w, retry)
			s.errorPage(w, r, http.StatusTooManyRequests, "Fragments are rendered alone a few times a minute per visitor: try again in a moment.")
			return
		}
	}
	values := map[string]string{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 && f.Spec.Param(k) != nil {
			values[k] = vs[0]
		}
	}
	d := s.fragmentDetail(site, f, values, admin)
	res := &templates.RenderResult{}
	d.Render = res
	status := http.StatusOK
	p, err := composer.NewParams(f.Spec, values)
	switch {
	case err != nil:
		status = http.StatusBadRequest
		res.Invalid = true
		var pe *composer.ParamError
		if errors.As(err, &pe) {
			res.Error = fmt.Sprintf("Param %q %s.", pe.Param, pe.Reason)
		} else {
			res.Error = "The params are not valid."
		}
	case f.Settings.Disabled:
		res.HTML = f.Settings.Fallback
		res.Took = "0 ms"
		res.Note = "The kill switch is on: this is the fallback, the fragment was not called."
	default:
		t0 := time.Now()
		html, err := renderOnce(r.Context(), f, p, f.Settings.EffectiveMaxBytes(site.Limits))
		res.Took = ms(time.Since(t0))
		if err != nil {
			status = http.StatusBadGateway
			res.Error = "The fragment failed: " + failure(err, f.Settings.Timeout, admin)
			Logger(r.Context()).Warn("web: render alone failed", "fragment", f.Spec.Name, "err", err)
			break
		}
		res.HTML = composer.NormalizeHTML(string(html)) // as pages get it
		if len(f.Spec.Includes) > 0 {
			res.Note = "Includes are shown as tags: the explorer renders one fragment, not what it includes."
		}
	}
	s.renderStatus(w, r, status, templates.FragmentPage(d))
}

// renderOnce calls f under its timeout through package render, so that
// a fragment ignoring its context costs the request no more than the
// timeout; a panic is an error, and so is output over max bytes.
func renderOnce(ctx context.Context, f *composer.Fragment, p composer.Params, max int) ([]byte, error) {
	html, _, err := render.Call(ctx, f.Spec.Render, p, render.Options{Name: f.Spec.Name, Max: max, Timeout: f.Settings.Timeout})
	return html, err
}

// failure says why a call failed: the error's text for the admin, its
// kind for anyone else (the text may name a fragment service's host or
// other internals; the log has it).
func failure(err error, timeout time.Duration, admin bool) string {
	switch {
	case admin:
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "it did not answer within its timeout (" + timeout.String() + ")."
	case errors.Is(err, render.ErrOversized):
		return "its output was over the size limit."
	case errors.Is(err, composer.ErrNotFound):
		return "it found nothing for these params."
	case errors.As(err, new(*render.PanicError)):
		return "it panicked."
	}
	return "it returned an error (its text is shown to the admin only)."
}
