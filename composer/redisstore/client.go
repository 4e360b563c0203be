package redisstore

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/broadsheet/broadsheet/composer"
)

// NewClient returns a go-redis client for url, one of:
//
//	redis://[[user]:password@]host:port/db           a single node (rediss:// for TLS)
//	redis+sentinel://[[user]:password@]s1:26379,s2:26379/primary/db
//	                                                  the primary a set of Sentinels manages
//	redis+cluster://[[user]:password@]n1:7000,n2:7001 a Redis Cluster, from any of its nodes
//	redis://n1:7000?addr=n2:7001&addr=n3:7002         the same, as redis.ParseClusterURL reads it
//
// (rediss+sentinel:// and rediss+cluster:// for TLS). User, password,
// database and TLS come from the URL; the password is the data nodes' (a
// Sentinel's own, if any, is the sentinel_password query option). A Redis
// Cluster has only database 0.
//
// Every timeout, retry and pool setting is the same for the three kinds and
// chosen for a cache that sits inside a page's latency budget (see
// configure). Options given in the URL's query (dial_timeout=…,
// pool_size=…) are overridden: they are part of the latency contract, not
// deployment knobs. On a cluster the pool settings apply per node.
//
// The client is safe for concurrent use; close it when done. NewClient does
// not connect: an unreachable Redis shows up as errors on the first calls,
// which the Store turns into misses.
func NewClient(rawURL string) (redis.UniversalClient, error) {
	scheme, _, _ := strings.Cut(rawURL, "://")
	switch scheme {
	case "redis+cluster", "rediss+cluster":
		return newClusterClient(rawURL, strings.TrimSuffix(scheme, "+cluster"))
	case "redis+sentinel", "rediss+sentinel":
		return newFailoverClient(rawURL, strings.TrimSuffix(scheme, "+sentinel"))
	}
	if u, err := url.Parse(rawURL); err == nil && u.Query().Has("addr") {
		return newClusterClient(rawURL, "")
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: parse redis url: %w", err)
	}
	configure(opt)
	return redis.NewClient(opt), nil
}

// hostList splits a URL whose host part is a comma-separated list
// (scheme://[userinfo@]h1:p1,h2:p2/path?query), which url.Parse refuses.
// It returns the URL with the first host only, and the others.
func hostList(rawURL, scheme string) (first string, rest []string, err error) {
	_, after, _ := strings.Cut(rawURL, "://")
	authority, tail := after, ""
	if i := strings.IndexAny(after, "/?"); i >= 0 {
		authority, tail = after[:i], after[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	list := strings.Split(hosts, ",")
	for _, h := range list {
		if host, port, err := net.SplitHostPort(h); err != nil || host == "" || port == "" {
			return "", nil, fmt.Errorf("redisstore: parse redis url: want host:port, got %q", h)
		}
	}
	return scheme + "://" + userinfo + list[0] + tail, list[1:], nil
}

// newClusterClient reads a redis+cluster:// URL (scheme is then the plain
// scheme to rewrite it with) or a redis:// URL with addr= options (scheme
// is then "").
func newClusterClient(rawURL, scheme string) (redis.UniversalClient, error) {
	var extra []string
	if scheme != "" {
		var err error
		if rawURL, extra, err = hostList(rawURL, scheme); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: parse redis url: %w", err)
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		return nil, fmt.Errorf("redisstore: parse redis url: Redis Cluster has only database 0, got %q", db)
	}
	u.Path = ""
	q := u.Query()
	for _, a := range extra {
		q.Add("addr", a)
	}
	u.RawQuery = q.Encode()
	opt, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redisstore: parse redis url: %w", err)
	}
	configureCluster(opt)
	return redis.NewClusterClient(opt), nil
}

// newFailoverClient reads a redis+sentinel:// URL: the Sentinels' addresses,
// then /primary-name[/db].
func newFailoverClient(rawURL, scheme string) (redis.UniversalClient, error) {
	first, extra, err := hostList(rawURL, scheme)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(first)
	if err != nil {
		return nil, fmt.Errorf("redisstore: parse redis url: %w", err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if parts[0] == "" || len(parts) > 2 {
		return nil, fmt.Errorf("redisstore: parse redis url: want /primary-name[/db] after the Sentinels, got %q", u.Path)
	}
	q := u.Query()
	q.Set("master_name", parts[0])
	if len(parts) == 2 {
		q.Set("db", parts[1])
	}
	sentinelPassword := q.Get("sentinel_password")
	q.Del("sentinel_password")
	for _, a := range extra {
		q.Add("addr", a)
	}
	user, password := u.User.Username(), ""
	if p, ok := u.User.Password(); ok {
		password = p
	}
	// In ParseFailoverURL the URL's userinfo is the Sentinels'; ours is the
	// data nodes', as for the other two kinds.
	u.User, u.Path, u.RawQuery = nil, "", q.Encode()
	opt, err := redis.ParseFailoverURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redisstore: parse redis url: %w", err)
	}
	opt.Username, opt.Password = user, password
	opt.SentinelUsername, opt.SentinelPassword = "", sentinelPassword
	configureFailover(opt)
	return redis.NewFailoverClient(opt), nil
}

// configureCluster applies configure's settings to a cluster client, with
// the routing a cache needs: every command goes to the primary that owns
// its slot (no reads from replicas, which may lag behind a purge or a
// write-back the lock holder just made).
func configureCluster(c *redis.ClusterOptions) {
	var o redis.Options
	configure(&o)
	c.ContextTimeoutEnabled = o.ContextTimeoutEnabled
	c.DialTimeout, c.DialerRetries, c.DialerRetryTimeout = o.DialTimeout, o.DialerRetries, o.DialerRetryTimeout
	c.ReadTimeout, c.WriteTimeout = o.ReadTimeout, o.WriteTimeout
	c.MinRetryBackoff, c.MaxRetryBackoff = o.MinRetryBackoff, o.MaxRetryBackoff
	c.PoolSize, c.MaxActiveConns, c.PoolTimeout = o.PoolSize, o.MaxActiveConns, o.PoolTimeout
	c.MinIdleConns, c.MaxIdleConns = o.MinIdleConns, o.MaxIdleConns
	c.ConnMaxIdleTime, c.ConnMaxLifetime = o.ConnMaxIdleTime, o.ConnMaxLifetime
	c.PipelinePoolSize = o.PipelinePoolSize
	c.Protocol, c.DisableIdentity = o.Protocol, o.DisableIdentity
	c.MaintNotificationsConfig = o.MaintNotificationsConfig

	// The cluster client retries by itself: a network error is retried once
	// on the same node (a fresh connection: configure's one retry), then on
	// the slot's node after a state reload, MOVED and ASK are followed, all
	// within MaxRedirects attempts and the call's context. Node clients
	// retrying as well would multiply the attempts, so they do not (-1:
	// none).
	c.MaxRetries = -1
	// A slot moves (resharding, failover) at most a few times in a row
	// before the client's view of the cluster is reloaded.
	c.MaxRedirects = 3
	c.ReadOnly, c.RouteByLatency, c.RouteRandomly = false, false, false
	// How stale the client's view of which node owns which slot may get
	// without errors telling it. MOVED replies reload it at once; a dead
	// primary replies nothing, so the Store also asks for a reload when a
	// node fails (see Store.nodeFailed), and this is the backstop.
	c.ClusterStateReloadInterval = 5 * time.Second
}

// configureFailover applies configure's settings to a Sentinel-managed
// client.
func configureFailover(f *redis.FailoverOptions) {
	var o redis.Options
	configure(&o)
	f.ContextTimeoutEnabled = o.ContextTimeoutEnabled
	f.DialTimeout, f.DialerRetries, f.DialerRetryTimeout = o.DialTimeout, o.DialerRetries, o.DialerRetryTimeout
	f.ReadTimeout, f.WriteTimeout = o.ReadTimeout, o.WriteTimeout
	f.MaxRetries, f.MinRetryBackoff, f.MaxRetryBackoff = o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff
	f.PoolSize, f.MaxActiveConns, f.PoolTimeout = o.PoolSize, o.MaxActiveConns, o.PoolTimeout
	f.MinIdleConns, f.MaxIdleConns = o.MinIdleConns, o.MaxIdleConns
	f.ConnMaxIdleTime, f.ConnMaxLifetime = o.ConnMaxIdleTime, o.ConnMaxLifetime
	f.PipelinePoolSize = o.PipelinePoolSize
	f.Protocol, f.DisableIdentity = o.Protocol, o.DisableIdentity
	// Reads go to the primary, as on a cluster (go-redis's FailoverClient
	// disables maintenance notifications by itself).
	f.ReplicaOnly, f.RouteByLatency, f.RouteRandomly = false, false, false
}

// configure sets the go-redis options this Store relies on, whatever the
// URL said, on opt.
//
// It is long because it is a table: one setting after another, each with
// the reason for its value next to it.
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

	// Socket deadlines: a ceiling only. go-redis uses the earlier of these and
	// the call's context deadline, and every Store call has one, scaled to
	// its size (Options.Timeout + PerKey per key) and never past the page's
	// budget. A low ceiling here would override that: a 2,000-key MGET or
	// write-back on a loaded machine legitimately takes tens of ms, and a
	// 50 ms cap failed them. Calls without a deadline of their own (Purge
	// from the admin page, the event stream) get 500 ms.
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond

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
	// maxclients during a reconnect storm; beyond it callers queue for a
	// connection until their context's deadline (PoolTimeout is only a
	// ceiling, like the socket timeouts: a 50 ms one failed lock and lookup
	// calls whose own deadline was later, whenever many pages were planned
	// at once) and then miss.
	opt.PoolSize = 10 * procs
	opt.MaxActiveConns = 2 * opt.PoolSize
	opt.PoolTimeout = 500 * time.Millisecond
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

// starved reports whether a call that failed with err under ctx timed out
// because this process, not Redis, was slow: it returned more than
// starvedAfter(timeout) past its deadline. A goroutine whose reply is late
// wakes at its deadline; one that wakes long after it was runnable and not
// run — the process is CPU-saturated (a thousand pages composed at once on
// two cores), and the reply may well have been waiting in the socket. Such
// timeouts say nothing about Redis, and opening the breaker for them would
// make every instance give up its locks and the shared tier just when a
// herd needs them most. A Redis that is really hung still opens the
// breaker as soon as the process keeps up with its own timers again.
func starved(ctx context.Context, err error, timeout time.Duration) bool {
	deadline, ok := ctx.Deadline()
	if !ok || !composer.IsTimeout(err) {
		return false
	}
	return time.Since(deadline) > starvedAfter(timeout)
}

// starvedAfter is how late past its deadline a timed-out call must return
// to count as starved: a fifth of the Store's timeout (10 ms for the
// default 50 ms), far beyond a timer's usual lateness on an idle machine.
func starvedAfter(timeout time.Duration) time.Duration {
	return max(timeout/5, 5*time.Millisecond)
}
