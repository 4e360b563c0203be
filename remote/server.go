package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// ServerOptions configure a Handler. The zero value is usable.
type ServerOptions struct {
	// MaxBodyBytes caps the HTML of one response; a fragment that renders
	// more answers 500. 0 means composer.DefaultLimits.MaxFragmentBytes.
	MaxBodyBytes int
	// Latency is added to every fragment request before rendering, to
	// simulate a slower service (benchmarks). It counts against the
	// fragment's timeout.
	Latency time.Duration
	// Observe, if set, is told of every fragment request: the fragment
	// name ("" when unknown), the status and the time taken. It is called
	// concurrently.
	Observe func(fragment string, status int, d time.Duration)
	Logger  *slog.Logger
}

// Handler serves specs over HTTP at /fragments/{name}?params:
//
//   - params are validated like the composer does (400 with a short text
//     body when they are not);
//   - the fragment runs under its default timeout (504 when it passes,
//     500 on an error or a panic, 404 on composer.ErrNotFound);
//   - a success is text/html with Cache-Control from the fragment's fresh
//     and stale times (max-age, stale-while-revalidate, stale-if-error),
//     and a Link header for each of its assets (rel=stylesheet for CSS,
//     rel="fragment-script" for JS, as Tailor's fragment services send).
//
// Include tags in the HTML are left as they are, for the composer to
// resolve. Error bodies never say more than the status.
func Handler(specs []*composer.Spec, o ServerOptions) http.Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = composer.DefaultLimits.MaxFragmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	byName := make(map[string]*composer.Spec, len(specs))
	for _, s := range specs {
		byName[s.Name] = s
	}
	s := &server{specs: byName, o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fragments/{name}", s.fragment)
	return mux
}

type server struct {
	specs map[string]*composer.Spec
	o     ServerOptions
}

func (s *server) fragment(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	name := r.PathValue("name")
	spec := s.specs[name]
	status := http.StatusOK
	defer func() {
		if s.o.Observe != nil {
			if spec == nil {
				name = ""
			}
			s.o.Observe(name, status, time.Since(t0))
		}
	}()
	text := func(code int, msg string) {
		status = code
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
		_, _ = fmt.Fprintln(w, msg)
	}
	if spec == nil {
		text(http.StatusNotFound, "unknown fragment")
		return
	}
	raw := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			raw[k] = v[0]
		}
	}
	p, err := composer.NewParams(spec, raw)
	if err != nil {
		var pe *composer.ParamError
		if errors.As(err, &pe) {
			text(http.StatusBadRequest, "param "+pe.Param+" "+pe.Reason)
		} else {
			text(http.StatusBadRequest, "invalid params")
		}
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), spec.Defaults.Timeout)
	defer cancel()
	html, rr, err := s.render(ctx, spec, p)
	switch {
	case err == nil:
	case errors.Is(err, composer.ErrNotFound):
		text(http.StatusNotFound, "not found")
		return
	case ctx.Err() != nil && r.Context().Err() == nil:
		text(http.StatusGatewayTimeout, "fragment timed out")
		return
	default:
		s.o.Logger.Warn("fragmentd: fragment failed", "fragment", name, "err", err)
		text(http.StatusInternalServerError, "fragment failed")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", cacheControl(spec, rr))
	for _, a := range composer.AssetsOf(spec, rr) {
		if strings.HasSuffix(strings.SplitN(a, "?", 2)[0], ".css") {
			h.Add("Link", "<"+a+">; rel=stylesheet")
		} else {
			h.Add("Link", "<"+a+`>; rel="fragment-script"`)
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(html)))
	w.WriteHeader(status)
	_, _ = w.Write(html)
}

// render waits Latency, then runs the fragment and renders its output,
// turning a panic into an error.
func (s *server) render(ctx context.Context, spec *composer.Spec, p composer.Params) (html []byte, raw *composer.Raw, err error) {
	if d := s.o.Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		}
	}
	defer func() {
		if v := recover(); v != nil {
			s.o.Logger.Error("fragmentd: fragment panicked", "fragment", spec.Name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			html, raw, err = nil, nil, fmt.Errorf("remote: fragment %q panicked", spec.Name)
		}
	}()
	comp, err := spec.Render(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	if comp == nil {
		return nil, nil, nil
	}
	if r, ok := comp.(*composer.Raw); ok {
		if len(r.HTML) > s.o.MaxBodyBytes {
			return nil, nil, errors.New("remote: fragment output over the size limit")
		}
		return r.HTML, r, nil
	}
	w := &capped{max: s.o.MaxBodyBytes}
	if err := comp.Render(ctx, w); err != nil {
		return nil, nil, err
	}
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	return w.buf.Bytes(), nil, nil
}

type capped struct {
	buf bytes.Buffer
	max int
}

func (w *capped) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, errors.New("remote: fragment output over the size limit")
	}
	return w.buf.Write(p)
}

// cacheControl states the fragment's lifetimes: its own, or those of the
// Raw it returned.
func cacheControl(spec *composer.Spec, raw *composer.Raw) string {
	fresh, stale := spec.Defaults.Fresh, spec.Defaults.Stale
	if raw != nil && raw.HasFreshness {
		fresh, stale = raw.Fresh, raw.Stale
	}
	if spec.PerUser {
		return "private, no-store"
	}
	if fresh+stale <= 0 {
		return "no-store"
	}
	// Whole seconds, rounded up: rounding a 500ms lifetime down to 0
	// would make the fragment uncacheable.
	f, st := ceilSeconds(fresh), ceilSeconds(stale)
	return fmt.Sprintf("max-age=%d, stale-while-revalidate=%d, stale-if-error=%d", f, st, st)
}

func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }
