package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/broadsheet/broadsheet/composer"
	frag "github.com/broadsheet/broadsheet/composer/render"
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
	// MaxBatchItems caps the items of one batch request (POST
	// /fragments/_batch); more is a 413. 0 means DefaultMaxBatchItems.
	MaxBatchItems int
	// MaxBatchBytes caps the body of one batch request; more is a 413.
	// 0 means DefaultMaxBatchBytes.
	MaxBatchBytes int
	Logger        *slog.Logger
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
//
// It also serves batches at POST /fragments/_batch (see batch.go and
// batchserve.go): each item, a relative URL "name?params", goes through
// exactly the path of a GET, concurrently, and its result is streamed back
// in a frame as soon as it is ready.
func Handler(specs []*composer.Spec, o ServerOptions) http.Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = composer.DefaultLimits.MaxFragmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBatchItems <= 0 {
		o.MaxBatchItems = DefaultMaxBatchItems
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	byName := make(map[string]*served, len(specs))
	for _, s := range specs {
		byName[s.Name] = newServed(s)
	}
	s := &server{specs: byName, o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fragments/{name}", s.fragment)
	mux.HandleFunc("POST /fragments/_batch", s.batch)
	return mux
}

type server struct {
	specs map[string]*served
	o     ServerOptions
}

// served is a spec with the header values of its successes that depend on
// the spec alone, made once rather than per request.
type served struct {
	spec         *composer.Spec
	cacheControl []string // for a response without its own lifetimes
	links        []string // for a response without assets of its own
}

func newServed(spec *composer.Spec) *served {
	return &served{spec: spec, cacheControl: []string{cacheControl(spec, nil)}, links: linkValues(composer.AssetsOf(spec, nil))}
}

// Header values shared by every response: net/http only reads them (it
// copies the handler's header when the response starts), and Header.Set
// or Add replace or append to a slice rather than writing into it.
var (
	hdrHTML    = []string{"text/html; charset=utf-8"}
	hdrText    = []string{"text/plain; charset=utf-8"}
	hdrNoStore = []string{"no-store"}
	hdrNosniff = []string{"nosniff"}
)

// autoLength is the size of a body up to which the Content-Length is left
// to net/http: a body written in one Write of under a few KB, with no
// Flush, gets one without the handler's allocating a header value.
const autoLength = 1 << 10

func (s *server) fragment(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	o := s.run(r.Context(), r.PathValue("name"), r.URL)
	defer o.release()
	h := w.Header()
	if o.status != http.StatusOK {
		h["Content-Type"] = hdrText
		h["Cache-Control"] = hdrNoStore
		h["X-Content-Type-Options"] = hdrNosniff
		w.WriteHeader(o.status)
		_, _ = io.WriteString(w, o.msg+"\n")
	} else {
		h["Content-Type"] = hdrHTML
		h["X-Content-Type-Options"] = hdrNosniff
		h["Cache-Control"] = o.cacheControl
		if len(o.links) > 0 {
			h["Link"] = o.links
		}
		if len(o.html) > autoLength {
			h["Content-Length"] = []string{strconv.Itoa(len(o.html))}
		}
		w.WriteHeader(o.status)
		_, _ = w.Write(o.html)
	}
	if s.o.Observe != nil {
		s.o.Observe(o.name, o.status, time.Since(t0))
	}
}

// outcome is what serving one fragment request came to, before it is
// written: as a response of its own (GET) or as a frame of a batch.
type outcome struct {
	name   string // the fragment, "" when unknown (for Observe)
	status int
	msg    string // the short text of an error status
	// For a 200: the HTML, and the Cache-Control and Link values.
	html         []byte
	cacheControl []string
	links        []string
	buf          *renderBuf // holds html until release
}

// release returns the render buffer to its pool; html is then invalid.
func (o *outcome) release() {
	if b := o.buf; b != nil {
		o.buf, o.html = nil, nil
		if b.buf.Cap() <= maxPooledBuf {
			b.buf.Reset()
			renderBufs.Put(b)
		}
	}
}

// run serves one fragment request, name with the query of u: the one path
// of a GET and of each item of a batch (lookup, params, timeout, size cap,
// headers).
func (s *server) run(parent context.Context, name string, u *url.URL) outcome {
	sv := s.specs[name]
	if sv == nil {
		return outcome{status: http.StatusNotFound, msg: "unknown fragment"}
	}
	spec := sv.spec
	p, err := composer.NewParams(spec, firstValues(u))
	if err != nil {
		var pe *composer.ParamError
		if errors.As(err, &pe) {
			return outcome{name: name, status: http.StatusBadRequest, msg: "param " + pe.Param + " " + pe.Reason}
		}
		return outcome{name: name, status: http.StatusBadRequest, msg: "invalid params"}
	}
	ctx, cancel := context.WithTimeout(parent, spec.Defaults.Timeout)
	defer cancel()
	buf := renderBufs.Get().(*renderBuf)
	o := outcome{name: name, status: http.StatusOK, buf: buf}
	html, rr, err := s.render(ctx, spec, p, buf)
	switch {
	case err == nil:
	case errors.Is(err, composer.ErrNotFound):
		o.release()
		return outcome{name: name, status: http.StatusNotFound, msg: "not found"}
	case ctx.Err() != nil && parent.Err() == nil:
		o.release()
		return outcome{name: name, status: http.StatusGatewayTimeout, msg: "fragment timed out"}
	default:
		o.release()
		s.o.Logger.WarnContext(ctx, "fragmentd: fragment failed", "fragment", name, "err", err)
		return outcome{name: name, status: http.StatusInternalServerError, msg: "fragment failed"}
	}
	o.html = html
	if rr != nil && rr.HasFreshness {
		o.cacheControl = []string{cacheControl(spec, rr)}
	} else {
		o.cacheControl = sv.cacheControl
	}
	o.links = sv.links
	if rr != nil && len(rr.Assets) > 0 {
		o.links = linkValues(composer.AssetsOf(spec, rr))
	}
	return o
}

// linkValues are the Link header values of assets: rel=stylesheet for CSS,
// rel="fragment-script" for JS.
func linkValues(assets []string) []string {
	if len(assets) == 0 {
		return nil
	}
	out := make([]string, len(assets))
	for i, a := range assets {
		if strings.HasSuffix(strings.SplitN(a, "?", 2)[0], ".css") {
			out[i] = "<" + a + ">; rel=stylesheet"
		} else {
			out[i] = "<" + a + `>; rel="fragment-script"`
		}
	}
	return out
}

// firstValues returns the first value of each query param of u, as
// u.Query() would, without building the url.Values: the same pairs are
// skipped (empty, with a ';', with a bad escape).
func firstValues(u *url.URL) map[string]string {
	q := u.RawQuery
	out := make(map[string]string, 2)
	if strings.Count(q, "&") >= 64 {
		// Rare: let net/url apply its own limits as well.
		for k, v := range u.Query() {
			if len(v) > 0 {
				out[k] = v[0]
			}
		}
		return out
	}
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			continue
		}
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// renderBufs hold fragments' HTML between rendering and writing it.
var renderBufs = sync.Pool{New: func() any { return new(renderBuf) }}

// timers are the stopped timers of Latency (a timer reset after Stop
// never delivers a stale value).
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// render waits Latency, then calls the fragment through package render (a
// panic is an error, output over MaxBodyBytes too) into w.
func (s *server) render(ctx context.Context, spec *composer.Spec, p composer.Params, w *renderBuf) (html []byte, raw *composer.Raw, err error) {
	if d := s.o.Latency; d > 0 {
		t := timers.Get().(*time.Timer)
		t.Reset(d)
		select {
		case <-t.C:
			timers.Put(t)
		case <-ctx.Done():
			t.Stop()
			timers.Put(t)
			return nil, nil, ctx.Err()
		}
	}
	html, comp, err := frag.Call(ctx, spec.Render, p, frag.Options{Name: spec.Name, Max: s.o.MaxBodyBytes, Buf: &w.buf})
	var pe *frag.PanicError
	if errors.As(err, &pe) {
		s.o.Logger.ErrorContext(ctx, "fragmentd: fragment panicked", "fragment", spec.Name, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	}
	if err != nil {
		return nil, nil, err
	}
	if raw, ok := comp.(*composer.Raw); ok {
		return html, raw, nil
	}
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	return html, nil, nil
}

// renderBuf holds a fragment's HTML between rendering and writing it.
type renderBuf struct{ buf bytes.Buffer }

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
