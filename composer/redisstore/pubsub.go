package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

const (
	// InvalidateChannel is the pub/sub channel purges are announced on.
	InvalidateChannel = "bs1:invalidate"
	genPrefix         = "bs1:gen:"
)

// Subscribed is the fragment name a Subscribe callback receives (with
// generation 0) each time the subscription is established: the first time
// and after every lost connection. Purges published while it was not
// established were missed, so the callback should then re-read the
// generations it depends on (Generation) or drop what it cannot check. No
// fragment has an empty name.
const Subscribed = ""

// purgeScript bumps the fragment's generation and announces it atomically
// in one round trip. A pipeline cannot do this: PUBLISH must carry the
// value INCR returns. The generation key is declared in KEYS; PUBLISH takes
// no key, so the script is also valid on Redis Cluster.
var purgeScript = redis.NewScript(`
local gen = redis.call("INCR", KEYS[1])
redis.call("PUBLISH", ARGV[1], ARGV[2] .. " " .. gen)
return gen
`)

// Invalidator announces and receives fragment purges across instances. A
// purge increments the fragment's generation, a counter stored in Redis
// under bs1:gen:<fragment>, and publishes "<fragment> <generation>" on
// InvalidateChannel. Instances compare generations to decide what to drop.
//
// An Invalidator is safe for concurrent use. It does not own the client.
type Invalidator struct {
	client redis.UniversalClient
}

// NewInvalidator returns an Invalidator over client; it does not contact
// Redis.
func NewInvalidator(client redis.UniversalClient) *Invalidator {
	return &Invalidator{client: client}
}

// Purge increments the fragment's generation and announces it to every
// subscriber, in one round trip, and returns the new generation. It is
// bounded by ctx only (and the client's socket timeouts): purges come from
// the admin page, not from a page's budget.
func (inv *Invalidator) Purge(ctx context.Context, fragment string) (int64, error) {
	if fragment == "" {
		return 0, errors.New("redisstore: purge: empty fragment name")
	}
	gen, err := purgeScript.Run(ctx, inv.client, []string{genPrefix + fragment}, InvalidateChannel, fragment).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: purge %s: %w", fragment, err)
	}
	return gen, nil
}

// Generation returns the fragment's current generation, 0 if it was never
// purged. It is bounded by ctx.
func (inv *Invalidator) Generation(ctx context.Context, fragment string) (int64, error) {
	gen, err := inv.client.Get(ctx, genPrefix+fragment).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: generation %s: %w", fragment, err)
	}
	return gen, nil
}

// Subscription is a running subscription made by Subscribe.
type Subscription struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Close stops the subscription and waits until its goroutine has returned
// and its connection is closed; the callback is not called after Close
// returns. Close may be called more than once and concurrently.
func (s *Subscription) Close() {
	s.cancel()
	<-s.done
}

// Done is closed once the subscription has stopped, after its context ended
// or Close was called.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Subscribe listens on InvalidateChannel and calls cb for each purge, one
// call at a time, in the order received, on a goroutine of its own; cb
// should return quickly (messages queue behind it). It returns at once,
// without waiting for Redis: cb(Subscribed, 0) marks the moment the
// subscription is established, and every purge published after that is
// delivered.
//
// The subscription lives until ctx ends or Close is called. It never gives
// up on Redis: go-redis re-establishes lost connections (retrying every
// 100 ms, and pinging every few seconds to notice silent failures), and cb
// receives (Subscribed, 0) again each time. Malformed messages are ignored.
func (inv *Invalidator) Subscribe(ctx context.Context, cb func(fragment string, gen int64)) *Subscription {
	// The first connection attempt happens here; if it fails, go-redis
	// keeps retrying in the background, so its error is not ours to report.
	ps := inv.client.Subscribe(ctx, InvalidateChannel)
	msgs := ps.ChannelWithSubscriptions()
	ctx, cancel := context.WithCancel(ctx)
	sub := &Subscription{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sub.done)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				switch m := m.(type) {
				case *redis.Subscription:
					if m.Kind == "subscribe" {
						cb(Subscribed, 0)
					}
				case *redis.Message:
					if f, gen, ok := parsePurge(m.Payload); ok {
						cb(f, gen)
					}
				}
			}
		}
	}()
	return sub
}

func parsePurge(payload string) (fragment string, gen int64, ok bool) {
	i := strings.LastIndexByte(payload, ' ')
	if i <= 0 {
		return "", 0, false
	}
	gen, err := strconv.ParseInt(payload[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return payload[:i], gen, true
}

// Purge bumps the fragment's generation on every instance (see
// Invalidator.Purge). With Generation it makes Store a
// composer.Invalidator.
func (s *Store) Purge(ctx context.Context, fragment string) (int64, error) {
	return NewInvalidator(s.client).Purge(ctx, fragment)
}

// Generation returns the fragment's current generation (see
// Invalidator.Generation).
func (s *Store) Generation(ctx context.Context, fragment string) (int64, error) {
	return NewInvalidator(s.client).Generation(ctx, fragment)
}
