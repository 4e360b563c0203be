// Package redisstore is the shared (Redis) cache tier of the composer: a
// composer.Store over go-redis, with a compact binary entry codec, a circuit
// breaker, pub/sub invalidation and a cross-instance lock.
//
// Redis here is a cache, never a dependency of a page: every call is bounded
// by its own short timeout, failures are errors the composer treats as
// misses, and after a few consecutive failures the breaker stops calling
// Redis at all for a while, so a dead or hung Redis costs pages nothing but
// their hit rate.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/broadsheet/broadsheet/composer"
)

// ErrOpen is returned, without any network access, while the circuit
// breaker is open, and to all but one caller while it is half-open.
var ErrOpen = errors.New("redisstore: circuit open")

// Options tunes a Store. The zero value gives the defaults.
type Options struct {
	// Timeout bounds every call, on top of the caller's context (the
	// earlier deadline wins). Default 50 ms: Redis is single-threaded, and
	// at 16 pages at once a small MGET can queue behind 2,000-key ones for
	// 20 ms without anything being wrong (a 20 ms default made 1 page in 50
	// miss and re-render; see BENCHMARKS.md).
	Timeout time.Duration
	// PerKey is added to Timeout for every key a call carries: an MGET of
	// 2,000 entries moves a megabyte and, on a busy machine, takes tens of
	// milliseconds without anything being wrong. Default 25 µs.
	PerKey time.Duration
	// FailureThreshold is the number of consecutive failed calls that opens
	// the breaker. Default 5.
	FailureThreshold int
	// OpenFor is how long the breaker stays open before letting one probe
	// call through. Default 1 s.
	OpenFor time.Duration
	// Keys, when set, sign every value written and refuse every value
	// read that they did not sign (see sign.go). Nil: values are taken
	// as they are.
	Keys *Keys
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 50 * time.Millisecond
	}
	if o.PerKey <= 0 {
		o.PerKey = 25 * time.Microsecond
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 5
	}
	if o.OpenFor <= 0 {
		o.OpenFor = time.Second
	}
	return o
}

// Stats are a Store's counters since it was made.
type Stats struct {
	Gets    int64 // keys looked up
	Hits    int64 // keys found and decoded
	Misses  int64 // keys absent or undecodable (Corrupt and Unauthenticated are subsets)
	Corrupt int64 // values that failed to decode
	// Unauthenticated counts values refused because Options.Keys did not
	// sign them.
	Unauthenticated int64
	Sets            int64 // entries written
	Skipped         int64 // entries not written: already expired, or over the codec's limits
	Errors          int64 // calls that failed (timeout, network, Redis error)
	Rejected        int64 // calls refused by the open breaker, without network access
	RoundTrips      int64 // calls that reached the network
	// NodeErrors counts commands lost to one failing node of a Redis
	// Cluster while the others answered: the call as a whole succeeded
	// (look-ups of those keys are misses, locks on them are taken as held,
	// writes to them are dropped), so they are not in Errors and do not
	// count against the breaker.
	NodeErrors int64
	// Starved counts calls (in Errors) that timed out while this process
	// was too busy to run them: they returned well past their deadline
	// (see starved), and do not count against Redis in the breaker.
	Starved int64
}

// Store is a composer.Store backed by Redis. It is safe for concurrent use.
// It does not own the client: closing the client is the caller's job, after
// the last call.
type Store struct {
	client  redis.UniversalClient
	opts    Options
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	// perKeyGets makes GetMulti send one pipeline of GETs instead of one
	// MGET. Redis Cluster refuses an MGET whose keys span hash slots, and
	// the keys of one page level span nearly as many slots as there are
	// keys (see cluster.go); go-redis splits a pipeline by node and sends
	// the parts in parallel, one round trip per node.
	perKeyGets bool
	// cluster is the client when it is a Redis Cluster client, to ask for
	// a fresh view of the slots when a node fails.
	cluster *redis.ClusterClient

	gets, hits, misses, corrupt   atomic.Int64
	sets, skipped, errs, rejected atomic.Int64
	roundTrips, nodeErrs          atomic.Int64
	starved, unauthenticated      atomic.Int64
}

var _ composer.Store = (*Store)(nil)

// errCallerGone marks a failure caused by the caller's own context ending;
// the breaker ignores it, since it says nothing about Redis.
var errCallerGone = errors.New("caller context done")

// New returns a Store over client. The client should come from NewClient
// (or be configured like it, in particular with ContextTimeoutEnabled);
// New does not contact Redis.
func New(client redis.UniversalClient, opts Options) *Store {
	opts = opts.withDefaults()
	s := &Store{client: client, opts: opts}
	s.cluster, s.perKeyGets = client.(*redis.ClusterClient)
	threshold := uint32(opts.FailureThreshold)
	s.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "redisstore",
		MaxRequests: 1, // one probe when half-open; its success closes the breaker
		Timeout:     opts.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		IsExcluded:  func(err error) bool { return errors.Is(err, errCallerGone) },
	})
	return s
}

// State is the breaker's state, "closed", "open" or "half-open", for
// metrics and the admin page.
func (s *Store) State() string { return s.breaker.State().String() }

// Stats returns a snapshot of the counters. Each counter is read atomically;
// the snapshot as a whole is not.
func (s *Store) Stats() Stats {
	return Stats{
		Gets: s.gets.Load(), Hits: s.hits.Load(), Misses: s.misses.Load(),
		Corrupt: s.corrupt.Load(), Sets: s.sets.Load(), Skipped: s.skipped.Load(),
		Errors: s.errs.Load(), Rejected: s.rejected.Load(), RoundTrips: s.roundTrips.Load(),
		NodeErrors: s.nodeErrs.Load(), Starved: s.starved.Load(), Unauthenticated: s.unauthenticated.Load(),
	}
}

// Lookups returns Stats' Hits and Misses: the keys looked up and found,
// and those absent or refused.
func (s *Store) Lookups() (hits, misses int64) { return s.hits.Load(), s.misses.Load() }

// Failures returns Stats' Errors and Rejected: the calls that failed, and
// those the open breaker refused without network access.
func (s *Store) Failures() (errors, rejected int64) { return s.errs.Load(), s.rejected.Load() }

// call runs fn once under the breaker and the per-call timeout (Timeout,
// plus PerKey for each of the call's keys). It returns
// ErrOpen without running fn while the breaker refuses calls, and the
// caller's context error without running fn if that context is already
// done. Errors are counted; a failure caused by the caller's context ending
// does not count against Redis in the breaker.
func (s *Store) call(ctx context.Context, op string, keys int, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	done, err := s.breaker.Allow()
	if err != nil {
		s.rejected.Add(1)
		return ErrOpen
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout+time.Duration(keys)*s.opts.PerKey)
	defer cancel()
	s.roundTrips.Add(1)
	err = fn(cctx)
	switch {
	case err == nil:
		done(nil)
		return nil
	case ctx.Err() != nil:
		done(errCallerGone)
	case starved(cctx, err, s.opts.Timeout):
		s.starved.Add(1)
		done(errCallerGone)
	default:
		done(err)
		if s.cluster != nil {
			// A node that fails every command of a call may be a primary
			// that died: its replica takes over its slots, and the client
			// must hear of it (a dead node never replies MOVED).
			s.cluster.ReloadState(context.Background())
		}
	}
	s.errs.Add(1)
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// GetMulti looks up keys (full store keys, see composer.StoreKey) in one
// round trip: one MGET (on Redis Cluster, one pipeline of GETs, which
// go-redis sends to each node in parallel: one round trip per node, all at
// once). The result has one slot per key:
// nil for a miss or for a value that does not decode (counted as Corrupt,
// not an error). Entries are returned whatever their StaleUntil; judging
// freshness is the caller's job.
//
// On failure, including the caller's context ending and ErrOpen, it returns
// (nil, err): the whole batch is a miss. On a Redis Cluster with one node
// failing, that node's keys are misses and the others are served (see
// Stats.NodeErrors).
//
// Keys carry no hash tag. A tag such as {score} would put every include of
// a fragment in one slot, so an MGET per fragment could replace the
// pipeline, but it would also put a 2,000-include page's whole level, its
// memory and its traffic on one node: the cluster would not spread the
// load it exists to spread. Without tags, keys spread evenly over the
// nodes and a level costs one pipeline per node, sent concurrently. It never blocks longer than the
// earlier of ctx's deadline and Options.Timeout. Safe for concurrent use.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([]*composer.Entry, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	s.gets.Add(int64(len(keys)))
	// One string per key, "" for an absent one: go-redis's StringSliceCmd
	// reads MGET's reply without boxing every value in an interface, one
	// allocation per value fewer than MGet's []any (2,000 per warm page).
	// No encoding is empty (see Encode), so "" is never a value.
	vals := make([]string, len(keys))
	err := s.call(ctx, "get", len(keys), func(ctx context.Context) error {
		if s.perKeyGets {
			return s.pipelinedGets(ctx, keys, vals)
		}
		args := make([]any, 1+len(keys))
		args[0] = "mget"
		for i, k := range keys {
			args[1+i] = k
		}
		cmd := redis.NewStringSliceCmd(ctx, args...)
		_ = s.client.Process(ctx, cmd)
		v, err := cmd.Result()
		if err == nil && len(v) != len(keys) {
			err = fmt.Errorf("mget returned %d values for %d keys", len(v), len(keys))
		}
		copy(vals, v)
		return err
	})
	if err != nil {
		s.misses.Add(int64(len(keys)))
		return nil, err
	}
	out := make([]*composer.Entry, len(keys))
	var hits, corrupt, unauthenticated int64
	for i, str := range vals {
		if str == "" {
			continue // absent
		}
		if k := s.opts.Keys; k != nil && k.verify(unsafe.Slice(unsafe.StringData(str), len(str))) != nil {
			unauthenticated++
			continue
		}
		// go-redis hands values over as strings, immutable and ours
		// alone: the entry points into it (see decodeString).
		e, err := decodeString(str)
		if err != nil {
			corrupt++
			continue
		}
		out[i] = e
		hits++
	}
	s.hits.Add(hits)
	s.misses.Add(int64(len(keys)) - hits)
	s.corrupt.Add(corrupt)
	s.unauthenticated.Add(unauthenticated)
	return out, nil
}

// SetMulti writes entries in one round trip, a pipeline of
// SET composer.StoreKey(e.Version, e.Key) value PX ttl, where ttl runs to
// the entry's StaleUntil (go-redis sends EX for a whole number of seconds).
// Entries already past StaleUntil, or with fewer than 1 ms left, and
// entries too large for the codec's limits are skipped and counted in
// Skipped. It returns nil at once if nothing is left to write.
//
// A failure returns an error; some entries may have been written. It never
// blocks longer than the earlier of ctx's deadline and Options.Timeout, so
// write-back off the response path should pass a context of its own rather
// than the request's. Safe for concurrent use.
func (s *Store) SetMulti(ctx context.Context, entries []*composer.Entry) error {
	now := time.Now()
	type item struct {
		e   *composer.Entry
		ttl time.Duration
		val []byte
	}
	items := make([]item, 0, len(entries))
	size := 0
	for _, e := range entries {
		ttl := e.StaleUntil.Sub(now).Truncate(time.Millisecond)
		if ttl < time.Millisecond || !withinLimits(e) {
			s.skipped.Add(1)
			continue
		}
		items = append(items, item{e: e, ttl: ttl})
		size += encodedLen(e) + tagLen
	}
	if len(items) == 0 {
		return nil
	}
	// One buffer for all values; each value is a capped sub-slice of it.
	buf := make([]byte, 0, size)
	for i := range items {
		start := len(buf)
		if s.opts.Keys != nil {
			buf = s.opts.Keys.appendSigned(buf, items[i].e)
		} else {
			buf = AppendEntry(buf, items[i].e)
		}
		items[i].val = buf[start:len(buf):len(buf)]
	}
	err := s.call(ctx, "set", len(items), func(ctx context.Context) error {
		pipe := s.client.Pipeline()
		for _, it := range items {
			pipe.Set(ctx, composer.StoreKey(it.e.Version, it.e.Key), it.val, it.ttl)
		}
		executed, err := pipe.Exec(ctx)
		return s.judge(executed, err)
	})
	if err != nil {
		return err
	}
	s.sets.Add(int64(len(items)))
	return nil
}

// The capabilities the composer looks for.
var (
	_ composer.Locker      = (*Store)(nil)
	_ composer.Invalidator = (*Store)(nil)
)

// Client returns the client the Store uses (for hooks and instrumentation).
func (s *Store) Client() redis.UniversalClient { return s.client }
