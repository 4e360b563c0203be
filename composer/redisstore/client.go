package redisstore

import (
	"fmt"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// NewClient returns a go-redis client for a redis:// or rediss:// URL
// (user, password, database and TLS come from the URL, as redis.ParseURL
// reads them) with every timeout, retry and pool setting chosen for a cache
// that sits inside a page's latency budget. Options given in the URL's query
// (dial_timeout=…, pool_size=…) are overridden: the values below are part of
// the latency contract, not deployment knobs.
//
// The client is safe for concurrent use; close it when done. NewClient does
// not connect: an unreachable Redis shows up as errors on the first calls,
// which the Store turns into misses.
func NewClient(url string) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: parse redis url: %w", err)
	}
	configure(opt)
	return redis.NewClient(opt), nil
}

func configure(opt *redis.Options) {
	procs := runtime.GOMAXPROCS(0)

	// Every call carries a context whose deadline is the smaller of the
	// page's remaining budget and Options.Timeout. go-redis ignores context
	// deadlines on socket reads and writes unless this is set, so without it a
	// hung Redis would hold a request for ReadTimeout, whatever its budget.
	opt.ContextTimeoutEnabled = true

	// A dial that takes longer than this on a LAN means Redis (or the network
	// to it) is in trouble. It only bounds dials made in the background: a
	// caller waits at most until its own context ends. TLS handshakes fit
	// comfortably.
	opt.DialTimeout = 200 * time.Millisecond
	// One dial attempt per connection. go-redis otherwise retries a failed
	// dial five times 100 ms apart; the circuit breaker, not the dialer, is
	// what decides when to try a dead Redis again.
	opt.DialerRetries = 1
	opt.DialerRetryTimeout = 10 * time.Millisecond

	// Socket deadlines: a ceiling for calls whose context has a later (or no)
	// deadline, such as Purge from the admin page. A 2,000-key MGET of small
	// entries is a few hundred kilobytes and takes a few milliseconds on a
	// LAN; 50 ms is well past normal and well inside a page budget.
	opt.ReadTimeout = 50 * time.Millisecond
	opt.WriteTimeout = 50 * time.Millisecond

	// One retry, almost immediately, on a fresh connection. Its purpose is
	// the connection that died while idle in the pool (Redis restarted,
	// failover, a proxy dropped it): the first command on it fails and the
	// retry on a new connection succeeds, instead of every pooled connection
	// costing one page a miss. Everything we send is idempotent or harmless
	// to repeat (GET/MGET/SET, the compare-and-delete unlock; a repeated INCR
	// in Purge only bumps the generation twice). The retry still ends with
	// the call's context, so it cannot stretch a budget; go-redis does not
	// retry on context errors.
	opt.MaxRetries = 1
	opt.MinRetryBackoff = time.Millisecond
	opt.MaxRetryBackoff = 2 * time.Millisecond

	// Pool: go-redis's own default (10 per CPU) is right for a process whose
	// goroutines all want Redis at once during a page's look-up phase. Each
	// page does one MGET per include level, so the number in use is about the
	// number of pages being planned concurrently. MaxActiveConns caps what
	// one instance may open so that N instances cannot exhaust Redis's
	// maxclients during a reconnect storm; beyond it callers queue for at most
	// PoolTimeout (or their context) and then miss.
	opt.PoolSize = 10 * procs
	opt.MaxActiveConns = 2 * opt.PoolSize
	opt.PoolTimeout = 50 * time.Millisecond
	// A few warm connections so the first page after a quiet spell does not
	// pay a dial (and a TLS handshake) inside its budget.
	opt.MinIdleConns = min(4, opt.PoolSize)
	opt.MaxIdleConns = opt.PoolSize
	// Recycle idle connections before typical load balancer and NAT idle
	// timeouts (AWS NLB: 350 s) silently drop them; Redis's own idle timeout
	// is off by default.
	opt.ConnMaxIdleTime = 4 * time.Minute
	// No age limit: long-lived connections are the point of a pool, and
	// failover is handled by errors plus the retry above.
	opt.ConnMaxLifetime = 0
	// Pipelines (SetMulti) use their own small pool of connections with
	// larger buffers; write-back is off the response path, so a handful is
	// plenty, and spill-over goes to the main pool without waiting.
	opt.PipelinePoolSize = max(4, procs)

	// RESP3, go-redis's default, stated so that a change of default does
	// not change the wire protocol under us. go-redis sends HELLO on every
	// new connection whatever the protocol.
	opt.Protocol = 3
	// No CLIENT SETINFO on connect: one command less on every dial, which
	// may be on a page's path, and Redis before 7.2 answers it with an error.
	// CLIENT LIST still shows the connections, just not the library name.
	opt.DisableIdentity = true

	// Maintenance notifications are a Redis Enterprise / Redis Cloud
	// feature. In "auto" mode go-redis sends an extra command on every new
	// connection to find out; we do not want that in a dial that may be
	// on a page's path.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}
