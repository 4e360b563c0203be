package cdn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// One purger per deployment.
//
// Every composer instance hears every change (the events' announcements
// and the purges' generations go to all of them over Redis) and tells its
// Purger; without coordination a deployment of N instances sends the CDN N
// purges per change. With Options.Redis the instances' Purgers share a
// lease in Redis: the instance holding it sends its purges, the others
// drop theirs (Stats.Skipped). Whoever finds the lease free takes it; its
// holder renews it every leaseTTL/3 and gives it up on Close, so another
// instance takes over within leaseTTL/3 of a graceful stop and within
// 4/3 leaseTTL of a crash — the purges of the changes in that window are
// lost, and the CDN keeps those pages until their own expiry. Whenever an
// instance does not know that another holds the lease (before its first
// renewal, or Redis does not answer) it purges: a duplicate purge, never
// a missing one.

// leaseTTL is the lease's lifetime in Redis, renewed every third of it.
const leaseTTL = 3 * time.Second

// DefaultLeaseKey is the Redis key of the purgers' lease.
const DefaultLeaseKey = "broadsheet:cdn:purger"

// Lease states, as the last renewal found them.
const (
	leaseUnknown int32 = iota // not asked yet, or Redis did not answer
	leaseMine
	leaseOthers
)

// takeScript takes the lease KEYS[1] for ARGV[1] if it is free, renews it
// if ARGV[1] holds it, and returns 1 then; 0 when another holds it.
var takeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseScript deletes the lease KEYS[1] if ARGV[1] holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// lease is one instance's view of the purgers' lease.
type lease struct {
	client redis.UniversalClient
	key    string
	id     string // this instance's, random
	state  atomic.Int32
}

func newLease(client redis.UniversalClient, key string) *lease {
	if key == "" {
		key = DefaultLeaseKey
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return &lease{client: client, key: key, id: hex.EncodeToString(b)}
}

// skip reports whether another instance holds the lease: its purges are
// that instance's to send.
func (l *lease) skip() bool { return l.state.Load() == leaseOthers }

// renew takes or renews the lease and records what it found.
func (l *lease) renew(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, leaseTTL/3)
	defer cancel()
	n, err := takeScript.Run(ctx, l.client, []string{l.key}, l.id, leaseTTL.Milliseconds()).Int()
	switch {
	case err != nil:
		l.state.Store(leaseUnknown)
	case n == 1:
		l.state.Store(leaseMine)
	default:
		l.state.Store(leaseOthers)
	}
}

// run renews the lease every leaseTTL/3 until stop is closed, then
// releases it.
func (l *lease) run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		l.renew(ctx)
		select {
		case <-t.C:
		case <-stop:
			rctx, rcancel := context.WithTimeout(context.Background(), leaseTTL/3)
			_ = releaseScript.Run(rctx, l.client, []string{l.key}, l.id).Err()
			rcancel()
			l.state.Store(leaseUnknown)
			return
		}
	}
}
