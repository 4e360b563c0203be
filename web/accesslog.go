package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/trace"
)

type loggerKey struct{}

// Logger returns the request's logger (with its request_id), or
// slog.Default outside a request.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// accessLog gives the request a logger carrying its request id (from
// middleware.RequestID, which must run first), echoes the id in
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
		log := s.log.With("request_id", id)
		if id != "" {
			w.Header().Set("X-Request-Id", id)
		}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		ctx := context.WithValue(r.Context(), loggerKey{}, log)
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
		if route == "/healthz" {
			level = slog.LevelDebug
		}
		log.LogAttrs(ctx, level, "http request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int("bytes", ww.BytesWritten()),
			slog.Duration("duration", time.Since(start)),
		)
	})
}
