package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/trace"

	"github.com/broadsheet/broadsheet/internal/telemetry"
)

type loggerKey struct{}

// requestLog is a request's logger, made when first asked for: a logger
// With an attribute formats it at once, which every page paid for while
// most requests log nothing but their access line.
type requestLog struct {
	base *slog.Logger
	id   string
	span trace.SpanContext // the request's, when it is traced
	once sync.Once
	l    *slog.Logger
}

func (rl *requestLog) logger() *slog.Logger {
	rl.once.Do(func() {
		args := []any{"request_id", rl.id}
		if rl.span.IsValid() {
			for _, a := range telemetry.TraceAttrs(rl.span) {
				args = append(args, a)
			}
		}
		rl.l = rl.base.With(args...)
	})
	return rl.l
}

// Logger returns the request's logger (with its request_id, and its
// trace_id and span_id when the request is traced), or slog.Default
// outside a request.
func Logger(ctx context.Context) *slog.Logger {
	if rl, ok := ctx.Value(loggerKey{}).(*requestLog); ok {
		return rl.logger()
	}
	return slog.Default()
}

// accessLog gives the request a logger carrying its request id (from
// requestID, which must run first), echoes the id in
// X-Request-Id, and logs one line when the handler returns: method, route
// pattern, path, status, bytes, duration. It also names the request's
// trace span after the route pattern (a no-op without tracing). The
// response writer it wraps keeps http.Flusher, which streamed pages need.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, ok := r.Context().Value(startKey{}).(time.Time)
		if !ok {
			start = time.Now()
		}
		id := middleware.GetReqID(r.Context())
		if id != "" {
			w.Header().Set("X-Request-Id", id)
		}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		ctx := context.WithValue(r.Context(), loggerKey{}, &requestLog{base: s.log, id: id, span: trace.SpanContextFromContext(r.Context())})
		next.ServeHTTP(ww, r.WithContext(ctx))

		route := ""
		if rc := chi.RouteContext(ctx); rc != nil {
			route = rc.RoutePattern()
		}
		if route != "" {
			trace.SpanFromContext(ctx).SetName(r.Method + " " + route)
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		if route == "/healthz" || route == "/readyz" {
			level = slog.LevelDebug
		}
		if !s.log.Enabled(ctx, level) {
			return
		}
		s.log.LogAttrs(ctx, level, "http request",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int("bytes", ww.BytesWritten()),
			slog.Duration("duration", time.Since(start)),
		)
	})
}
