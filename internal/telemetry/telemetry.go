// Package telemetry sets up what Broadsheet's binaries (cmd/composer,
// cmd/fragmentd) share for observability: structured logs whose lines
// carry the trace of the request they belong to, and OpenTelemetry tracing
// exported over OTLP/HTTP with W3C trace context propagation.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a logger writing to w in format ("text" or "json") at
// level ("debug", "info", "warn", "error"), whose records logged with a
// context carrying a span get that span's trace_id and span_id (see
// TraceHandler).
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(TraceHandler{slog.NewTextHandler(w, ho)}), nil
	case "json":
		return slog.New(TraceHandler{slog.NewJSONHandler(w, ho)}), nil
	}
	return nil, fmt.Errorf("-log-format: want text or json, got %q", format)
}

// TraceHandler adds trace_id and span_id to every record whose context
// carries a valid span context, and passes it to the Handler it wraps. A
// record logged without a context (slog's Info rather than InfoContext)
// gets nothing: a request's logger carries the ids as attributes instead
// (web.Logger). Inside a group (WithGroup) the ids land in the group.
type TraceHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(TraceAttrs(sc)...)
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h TraceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return TraceHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h TraceHandler) WithGroup(name string) slog.Handler {
	return TraceHandler{h.Handler.WithGroup(name)}
}

// TraceAttrs are sc's trace_id and span_id as log attributes.
func TraceAttrs(sc trace.SpanContext) []slog.Attr {
	return []slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
}

// SetupTracing installs, when endpoint is set (a URL such as
// http://collector:4318), an OTLP/HTTP tracer provider for service and the
// W3C trace context and baggage propagators, as the process's globals. It
// returns stop, which flushes the spans still buffered (for at most 5 s)
// and shuts the provider down. With no endpoint it installs nothing and
// stop does nothing: the global tracer stays a no-op and costs nothing.
func SetupTracing(ctx context.Context, endpoint, service string) (stop func(), err error) {
	if endpoint == "" {
		return func() {}, nil
	}
	exp, err := newExporter(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("-otlp-endpoint: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx)
	}, nil
}

// Handler wraps h in otelhttp when tracing is on: one span per request
// (but /healthz and /readyz), named name, a child of the caller's when the
// request carries a W3C traceparent. Off, it returns h itself.
func Handler(h http.Handler, name string, on bool) http.Handler {
	if !on {
		return h
	}
	return otelhttp.NewHandler(h, name, otelhttp.WithFilter(func(r *http.Request) bool {
		return r.URL.Path != "/healthz" && r.URL.Path != "/readyz"
	}))
}

// Transport is remote.Options.WrapTransport: when tracing is on,
// otelhttp's transport, so that each outgoing request is a span under the
// one in its context and carries the W3C traceparent; off, nil (no
// wrapping, no cost per request).
func Transport(on bool) func(http.RoundTripper) http.RoundTripper {
	if !on {
		return nil
	}
	return func(rt http.RoundTripper) http.RoundTripper { return otelhttp.NewTransport(rt) }
}
