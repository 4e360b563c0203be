package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/buildinfo"
	"github.com/broadsheet/broadsheet/internal/telemetry"
	"github.com/broadsheet/broadsheet/metrics"
)

// The Redis store is the shared tier the metrics read.
var _ metrics.StoreStats = (*redisstore.Store)(nil)

// metricsHandler registers the observer's and the composer's collectors
// (and the Redis store's, when store is not nil), the remote hosts' and
// the build's on a registry of their own and returns the /metrics handler.
func metricsHandler(obs *metrics.Observer, comp *composer.Composer, store *redisstore.Store, rc metrics.RemoteStats, conns *connLimit, log *slog.Logger) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	var tier metrics.StoreStats // a nil interface, not a nil *Store, without Redis
	if store != nil {
		tier = store
	}
	if err := obs.Register(reg, comp, tier); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	for _, c := range []prometheus.Collector{buildinfo.Read().Collector(), metrics.RemoteCollector(rc)} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	// The cross-instance figures the chaos herd reads (composer.Stats).
	st := comp.Stats()
	var starved, unauthenticated func() int64
	if store != nil {
		starved = func() int64 { return store.Stats().Starved }
		unauthenticated = func() int64 { return store.Stats().Unauthenticated }
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
		{"broadsheet_redis_unauthenticated_total", "Values read from Redis that BROADSHEET_STORE_KEY did not sign: misses.", unauthenticated},
		{"broadsheet_store_refused_total", "Values read from Redis over the limits of a fresh render (size, lifetimes, asset origins): misses.", st.StoreRefused.Load},
		{"broadsheet_pages_refused_total", "Pages refused (503) because the includes they were expected to have did not fit beside those in flight (-includes-in-flight).", st.Refused.Load},
		{"broadsheet_fragment_calls_busy_total", "Fragment calls refused because the results being made held -compose-mb already.", st.Busy.Load},
		{"broadsheet_connections_shed_total", "Connections over -max-conns: answered 503 with Retry-After and closed, or (see next) closed at once.", conns.shedLoad()},
		{"broadsheet_connections_shed_per_ip_total", "Connections over -max-conns-per-ip (of broadsheet_connections_shed_total): one client's connections past its share, held a few seconds, then answered 503 with Retry-After.", conns.shedIPLoad()},
		{"broadsheet_connections_evicted_total", "Connections closed at -max-conns to make room for a new one: the longest waiting without a request in a handler (sending a request head, or idle).", conns.evictedLoad()},
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
	for _, g := range []struct {
		name, help string
		load       func() int64
	}{
		{"broadsheet_l1_bytes", "Memory the in-process tier counts for its entries and stitched subtrees (bounded by -l1-mb and -stitch-mb).", comp.CacheBytes},
		{"broadsheet_includes_in_flight", "Includes expected of the pages being composed (bounded by -includes-in-flight).", comp.IncludesInFlight},
		{"broadsheet_composing_bytes", "Memory held by the fragment results being made, beyond 64 KiB each (bounded by -compose-mb).", comp.ComposingBytes},
	} {
		load := g.load
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help},
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
// (see telemetry.SetupTracing) and instruments client with redisotel. With
// no endpoint it installs nothing: the handler and the remote fragments'
// transport are then not wrapped either, so tracing costs nothing when off.
func setupTracing(ctx context.Context, endpoint string, client redis.UniversalClient) (stop func(), err error) {
	stop, err = telemetry.SetupTracing(ctx, endpoint, "broadsheet-composer")
	if err != nil || endpoint == "" {
		return stop, err
	}
	if client != nil {
		if err := redisotel.InstrumentTracing(client); err != nil {
			stop()
			return nil, fmt.Errorf("tracing: redis: %w", err)
		}
	}
	return stop, nil
}
