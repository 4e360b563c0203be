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
	if err := registerFuncs(reg, counterFuncs(comp.Stats(), store, conns), true); err != nil {
		return nil, err
	}
	if err := registerFuncs(reg, gaugeFuncs(comp, conns), false); err != nil {
		return nil, err
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		EnableOpenMetrics: true,
	}), nil
}

// funcMetric is a counter or a gauge whose value is read from load.
type funcMetric struct {
	name, help string
	load       func() int64
}

// registerFuncs registers ms on reg as counters (counter set) or gauges;
// one whose load is nil (its figure does not exist here) is left out.
func registerFuncs(reg *prometheus.Registry, ms []funcMetric, counter bool) error {
	for _, m := range ms {
		if m.load == nil {
			continue
		}
		load := m.load
		value := func() float64 { return float64(load()) }
		var c prometheus.Collector = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.name, Help: m.help}, value)
		if counter {
			c = prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, value)
		}
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// counterFuncs are the counters read from the composer's Stats (the
// cross-instance figures the chaos herd reads among them), the Redis
// store's, when store is not nil, and the public listener's limits.
func counterFuncs(st *composer.Stats, store *redisstore.Store, conns *connLimit) []funcMetric {
	var starved, unauthenticated func() int64
	if store != nil {
		starved = func() int64 { return store.Stats().Starved }
		unauthenticated = func() int64 { return store.Stats().Unauthenticated }
	}
	return []funcMetric{
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
		{"broadsheet_connections_held_total", "Evicted connections (of broadsheet_connections_evicted_total) moved to the tarpit rather than closed: no request head yet, from a client holding many connections.", conns.heldLoad()},
		{"broadsheet_connections_dropped_total", "Connections over -max-conns closed unanswered: too many 503s being written already.", conns.droppedLoad()},
	}
}

// gaugeFuncs are the gauges of the composer's memory and work in flight
// and of the public listener's open connections (when they are bounded).
func gaugeFuncs(comp *composer.Composer, conns *connLimit) []funcMetric {
	return []funcMetric{
		{"broadsheet_l1_bytes", "Memory the in-process tier counts for its entries and stitched subtrees (bounded by -l1-mb and -stitch-mb).", comp.CacheBytes},
		{"broadsheet_includes_in_flight", "Includes expected of the pages being composed (bounded by -includes-in-flight).", comp.IncludesInFlight},
		{"broadsheet_composing_bytes", "Memory held by the fragment results being made, beyond 64 KiB each (bounded by -compose-mb).", comp.ComposingBytes},
		{"broadsheet_connections_open", "Connections open on the public listener, bounded by -max-conns.", conns.openLoad()},
	}
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
