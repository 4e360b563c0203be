package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/internal/buildinfo"
	"github.com/broadsheet/broadsheet/metrics"
)

// metricsHandler registers the observer's and the composer's collectors
// (and the Redis store's, when there is one) on a registry of their own and
// returns the /metrics handler.
func metricsHandler(obs *metrics.Observer, comp *composer.Composer, store metrics.StoreStats, conns *connLimit, log *slog.Logger) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := obs.Register(reg, comp, store); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(buildinfo.Read().Collector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	// The cross-instance figures the chaos herd reads (composer.Stats).
	st := comp.Stats()
	var starved func() int64
	if store != nil {
		starved = func() int64 { return store.Stats().Starved }
	}
	for _, c := range []struct {
		name, help string
		load       func() int64
	}{
		{"broadsheet_remote_waits_total", "Fragment calls left to another instance holding the key's lock.", st.RemoteWaits.Load},
		{"broadsheet_remote_takeovers_total", "Calls made here after all: the holder's lock went without its result.", st.RemoteTakeovers.Load},
		{"broadsheet_fail_holds_total", "Fragment calls that failed and put their key on hold (fail_hold): no call for it meanwhile, here or, through the lock, elsewhere.", st.FailHolds.Load},
		{"broadsheet_remote_failures_total", "Keys found on hold because another instance's call for them failed.", st.RemoteFailures.Load},
		{"broadsheet_redis_starved_total", "Redis calls (in broadsheet_redis_errors_total) that timed out while this process was too busy to run them: not counted against Redis by the breaker.", starved},
		{"broadsheet_fragment_calls_cancelled_total", "Fragment calls cancelled because every request waiting for them went away.", st.Cancelled.Load},
		{"broadsheet_connections_shed_total", "Connections over -max-conns: answered 503 with Retry-After and closed, or (see next) closed at once.", conns.shedLoad()},
		{"broadsheet_connections_dropped_total", "Connections over -max-conns closed unanswered: too many 503s being written already.", conns.droppedLoad()},
	} {
		if c.load == nil {
			continue
		}
		load := c.load
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(load()) })); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	if open := conns.openLoad(); open != nil {
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "broadsheet_connections_open",
			Help: "Connections open on the public listener, bounded by -max-conns."},
			func() float64 { return float64(open()) })); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		EnableOpenMetrics: true,
	}), nil
}

// setupTracing installs an OTLP/HTTP tracer provider when endpoint is set
// (a URL such as http://collector:4318) and instruments client with
// redisotel. With no endpoint it installs nothing and returns a no-op: the
// handler is then not wrapped either, so tracing costs nothing when off.
func setupTracing(ctx context.Context, endpoint string, client redis.UniversalClient) (shutdown func(context.Context) error, err error) {
	if endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("-otlp-endpoint: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("broadsheet-composer")))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if client != nil {
		if err := redisotel.InstrumentTracing(client); err != nil {
			return nil, fmt.Errorf("tracing: redis: %w", err)
		}
	}
	return tp.Shutdown, nil
}

// traced wraps the public handler in otelhttp when tracing is on: one span
// per request, renamed after the route pattern by the access log. Spans
// per page level and per slow include would need a hook inside the
// composer, which it does not have yet.
func traced(h http.Handler, on bool) http.Handler {
	if !on {
		return h
	}
	return otelhttp.NewHandler(h, "composer",
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" }))
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
	return &listener{name: name, ln: ln, hs: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       90 * time.Second,
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
