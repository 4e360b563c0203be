package tuning

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys and channel of the shared overrides.
const (
	// OverridesKey is a hash: fragment name → JSON Override.
	OverridesKey = "bs1:overrides"
	// Channel is where a change is announced; the message is the fragment
	// name, but subscribers re-read the whole hash on every message, so a
	// lost or reordered message costs nothing.
	Channel = "bs1:tuning"
	// LogKey is a list of JSON Changes, newest first, trimmed to MaxChanges.
	LogKey = "bs1:tuning:log"
)

// opTimeout bounds each Redis call of the admin path and of the watch.
const opTimeout = 2 * time.Second

// Redis is a Store shared by every instance using the same Redis. It does
// not own the client.
type Redis struct {
	client redis.UniversalClient
	log    *slog.Logger
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store over client; it does not contact Redis.
func NewRedis(client redis.UniversalClient, log *slog.Logger) *Redis {
	if log == nil {
		log = slog.Default()
	}
	return &Redis{client: client, log: log}
}

// Load reads every override. An entry that does not decode is skipped and
// logged rather than failing the others.
func (r *Redis) Load(ctx context.Context) (map[string]Override, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	raw, err := r.client.HGetAll(ctx, OverridesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("tuning: read overrides: %w", err)
	}
	ov := make(map[string]Override, len(raw))
	for name, v := range raw {
		var o Override
		if err := json.Unmarshal([]byte(v), &o); err != nil {
			r.log.Warn("tuning: ignoring an override that does not decode", "fragment", name, "err", err)
			continue
		}
		ov[name] = o
	}
	return ov, nil
}

// Put writes (or, for a zero o, deletes) fragment's override and publishes
// the change, atomically (MULTI/EXEC).
func (r *Redis) Put(ctx context.Context, fragment string, o Override) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if o.IsZero() {
			p.HDel(ctx, OverridesKey, fragment)
		} else {
			b, err := json.Marshal(o)
			if err != nil {
				return err
			}
			p.HSet(ctx, OverridesKey, fragment, b)
		}
		p.Publish(ctx, Channel, fragment)
		return nil
	})
	if err != nil {
		return fmt.Errorf("tuning: write override of %s: %w", fragment, err)
	}
	return nil
}

// Watch subscribes to Channel and calls fn with all overrides, re-read from
// the hash, on every message and each time the subscription is established
// (the first time, and after a lost connection, which go-redis
// re-establishes by itself). A failed read is logged and fn is not called
// for it. stop ends the subscription and waits for its goroutine.
func (r *Redis) Watch(ctx context.Context, fn func(map[string]Override)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ps := r.client.Subscribe(ctx, Channel)
	msgs := ps.ChannelWithSubscriptions()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				if s, isSub := m.(*redis.Subscription); isSub && s.Kind != "subscribe" {
					continue
				}
				ov, err := r.Load(ctx)
				if err != nil {
					if ctx.Err() == nil {
						r.log.Warn("tuning: could not read overrides", "err", err)
					}
					continue
				}
				fn(ov)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// Record pushes changes onto the shared log and trims it, in one round
// trip.
func (r *Redis) Record(ctx context.Context, changes ...Change) error {
	if len(changes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	vals := make([]any, len(changes))
	for i, c := range changes {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		vals[i] = b
	}
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, LogKey, vals...)
		p.LTrim(ctx, LogKey, 0, MaxChanges-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("tuning: record changes: %w", err)
	}
	return nil
}

// Changes returns the shared log, newest first.
func (r *Redis) Changes(ctx context.Context) ([]Change, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	raw, err := r.client.LRange(ctx, LogKey, 0, MaxChanges-1).Result()
	if err != nil {
		return nil, fmt.Errorf("tuning: read change log: %w", err)
	}
	out := make([]Change, 0, len(raw))
	for _, v := range raw {
		var c Change
		if json.Unmarshal([]byte(v), &c) == nil {
			out = append(out, c)
		}
	}
	return out, nil
}
