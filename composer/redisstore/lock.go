package redisstore

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/redis/go-redis/v9"
)

// lockPrefix keeps lock keys apart from entries, so a lock on a store key
// never overwrites the entry it protects.
const lockPrefix = "bs1:lock:"

// unlockScript deletes the lock only if it still holds our token: a holder
// whose lock expired must not release the lock someone else took since.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0
`)

// TryLock takes the cross-instance lock named key (usually the store key of
// the entry about to be rendered) for ttl, with SET NX PX. It does not wait:
// ok is false if another holder has it. The token identifies this holder
// and must be passed to Unlock. The lock expires by itself after ttl (at
// least 1 ms), so a crashed holder blocks others for at most ttl.
//
// The lock only spares Redis and fragments duplicate work; it is not a
// correctness guarantee. On error (including ErrOpen) callers should proceed
// as if they held it. Bounded and counted like every Store call; safe for
// concurrent use.
func (s *Store) TryLock(ctx context.Context, key string, ttl time.Duration) (token string, ok bool, err error) {
	token = rand.Text()
	ttl = max(ttl, time.Millisecond)
	err = s.call(ctx, "lock", func(ctx context.Context) error {
		var err error
		ok, err = s.client.SetNX(ctx, lockPrefix+key, token, ttl).Result()
		return err
	})
	if err != nil || !ok {
		return "", false, err
	}
	return token, true, nil
}

// Unlock releases the lock named key if it is still held with token (a
// compare-and-delete script, so it never releases a lock that expired and
// was taken by someone else). Releasing a lock that is not held is not an
// error. Bounded and counted like every Store call; safe for concurrent use.
func (s *Store) Unlock(ctx context.Context, key, token string) error {
	return s.call(ctx, "unlock", func(ctx context.Context) error {
		return unlockScript.Run(ctx, s.client, []string{lockPrefix + key}, token).Err()
	})
}

// TryLockMulti tries to take the lock of every key for ttl, in one round
// trip (a pipeline of SET NX PX), without waiting: held[i] reports whether
// this caller now holds key i. The locks are not released: they expire
// after ttl, which callers keep to the fragment's timeout, since waiters
// look for the holder's result rather than for the lock.
//
// On error (including ErrOpen) it returns (nil, err) and callers proceed as
// if they held every lock. Bounded and counted like every Store call; safe
// for concurrent use. It makes Store a composer.Locker.
func (s *Store) TryLockMulti(ctx context.Context, keys []string, ttl time.Duration) ([]bool, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ttl = max(ttl, time.Millisecond)
	token := rand.Text()
	held := make([]bool, len(keys))
	err := s.call(ctx, "lock", func(ctx context.Context) error {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.BoolCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.SetNX(ctx, lockPrefix+k, token, ttl)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for i, c := range cmds {
			held[i] = c.Val()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}
