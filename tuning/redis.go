package tuning

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer/redisstore"
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
	keys   *redisstore.Keys
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store over client; it does not contact Redis.
func NewRedis(client redis.UniversalClient, log *slog.Logger) *Redis {
	if log == nil {
		log = slog.Default()
	}
	return &Redis{client: client, log: log}
}

// Signed makes r sign the overrides it writes with keys (the Store's,
// see redisstore.Keys) and take only those it can verify: an override
// written into Redis by anyone else is ignored and logged. Call it before
// r is used. It returns r.
func (r *Redis) Signed(keys *redisstore.Keys) *Redis {
	r.keys = keys
	return r
}

// Verifies reports whether r's overrides are signed, so that those it
// loads come from the admin path.
func (r *Redis) Verifies() bool { return r.keys != nil }

// signedValue is the hash value of fragment's override encoded as b:
// with keys, the hex tag of the fragment's name and b, a dot, then b.
func (r *Redis) signedValue(fragment string, b []byte) []byte {
	if r.keys == nil {
		return b
	}
	tag := r.keys.Sign(nil, overrideMessage(fragment, b))
	return append(append(hex.AppendEncode(nil, tag), '.'), b...)
}

// overrideMessage is what an override's tag covers: the fragment's name
// too, so that an override cannot be moved to another fragment.
func overrideMessage(fragment string, b []byte) []byte {
	return append(append([]byte(fragment), 0), b...)
}

// decode returns the override in hash value v of fragment, verified when
// r signs (an error when its tag is missing or wrong).
func (r *Redis) decode(fragment, v string) (Override, error) {
	var o Override
	if r.keys == nil {
		if i := strings.IndexByte(v, '.'); i > 0 && !strings.HasPrefix(v, "{") {
			v = v[i+1:] // signed by an instance with keys: taken as it is
		}
		return o, json.Unmarshal([]byte(v), &o)
	}
	hexTag, body, ok := strings.Cut(v, ".")
	tag, err := hex.DecodeString(hexTag)
	if !ok || err != nil || !r.keys.Verify(overrideMessage(fragment, []byte(body)), tag) {
		return o, errors.New("tuning: override not signed by a store key")
	}
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		return o, err
	}
	o.verified = true
	return o, nil
}

// Load reads every override. An entry that does not decode, or that r
// cannot verify (see Signed), is skipped and logged rather than failing
// the others.
func (r *Redis) Load(ctx context.Context) (map[string]Override, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	raw, err := r.client.HGetAll(ctx, OverridesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("tuning: read overrides: %w", err)
	}
	ov := make(map[string]Override, len(raw))
	for name, v := range raw {
		o, err := r.decode(name, v)
		if err != nil {
			r.log.Warn("tuning: ignoring an override that does not decode or verify", "fragment", name, "err", err)
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
			p.HSet(ctx, OverridesKey, fragment, r.signedValue(fragment, b))
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
