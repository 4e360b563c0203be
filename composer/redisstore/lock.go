package redisstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer"
)

// lockPrefix keeps lock keys apart from entries, so a lock on a store key
// never overwrites the entry it protects. Its hash tag ({l}) puts every
// lock in one Redis Cluster slot, so that TryLockMulti can take a level's
// locks in one atomic script (see lockScript); entries, the bulk of the
// data and traffic, carry no tag and spread over the nodes.
const lockPrefix = "bs1:lock:{l}:"

// lockScript takes the free locks among KEYS for holder ARGV[1], all at
// once: SET key holder NX PX ttl for each, returning 1 for a lock taken, 1
// for a lock the holder held already (its ttl starts again), 0 for one
// held by someone else, and minus its remaining milliseconds for a failure
// marker (see HoldFailure), whoever set it.
//
// Atomicity is what keeps instances from waiting on each other in a
// circle. An instance writes a level's results back when the whole level
// has settled, including the includes it waits for another instance to
// render; if instances A and B each took some of the same level's locks, A
// would wait for B's results and B for A's until both timed out. A
// pipeline of SET NX does not prevent this: Redis may interleave two
// large pipelines, and a cluster client splits one per node, each part
// racing separately. With one script, the first instance to reach Redis
// takes every free lock of its level, and an instance only ever waits for
// locks taken before its own, which cannot form a circle.
var lockScript = redis.NewScript(`
local held = {}
for i, key in ipairs(KEYS) do
	if redis.call("SET", key, ARGV[1], "NX", "PX", ARGV[2]) then
		held[i] = 1
	else
		local v = redis.call("GET", key)
		if v == ARGV[1] then
			redis.call("PEXPIRE", key, ARGV[2])
			held[i] = 1
		elseif v and string.sub(v, 1, 1) == "!" then
			held[i] = -math.max(redis.call("PTTL", key), 1)
		else
			held[i] = 0
		end
	end
end
return held
`)

// failMarker prefixes a failure marker's holder: tokens never start with
// it (TryLockMulti's holders are rand.Text, base32).
const failMarker = "!"

// holdScript replaces the lock KEYS[1] with a failure marker for holder
// ARGV[1] lasting ARGV[2] ms, if holder holds the lock or nobody does.
var holdScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v and v ~= ARGV[1] and string.sub(v, 1, 1) ~= "!" then
	return 0
end
redis.call("SET", KEYS[1], "!" .. ARGV[1], "PX", ARGV[2])
return 1
`)

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
	err = s.call(ctx, "lock", 1, func(ctx context.Context) error {
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
	return s.call(ctx, "unlock", 1, func(ctx context.Context) error {
		return unlockScript.Run(ctx, s.client, []string{lockPrefix + key}, token).Err()
	})
}

// TryLockMulti tries to take the lock of every key for holder (a token
// naming the caller, such as one random per composer instance) for ttl, in
// one round trip (one atomic script, see lockScript), without waiting:
// held[i] reports whether holder now holds key i, including a lock it held
// already (its ttl starts again, so a caller whose lock call timed out can
// retry it and find its own locks). Release one with Unlock(key, holder).
// Callers keep ttl to the fragment's timeout plus the time its result
// takes to reach the Store: instances that did not get a lock wait for the
// holder's result as long as the lock is held, and try to take it again
// once it is gone.
//
// On error (including ErrOpen) it returns (nil, err): callers then either
// proceed as if they held every lock or, when the call timed out (it may
// have taken them), try again. On a Redis Cluster all locks live on the
// node that owns the {l} slot; while it fails (or fails over), instances
// may render the same key, as they would without a lock. Bounded and
// counted like every Store call; safe for concurrent use. With Unlock
// and HoldFailure it makes Store a composer.Locker.
func (s *Store) TryLockMulti(ctx context.Context, keys []string, holder string, ttl time.Duration) ([]composer.LockState, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if holder == "" || strings.HasPrefix(holder, failMarker) {
		return nil, fmt.Errorf("redisstore: lock: holder %q is empty or starts with %q", holder, failMarker)
	}
	ttl = max(ttl, time.Millisecond)
	held := make([]composer.LockState, len(keys))
	lockKeys := make([]string, len(keys))
	for i, k := range keys {
		lockKeys[i] = lockPrefix + k
	}
	err := s.call(ctx, "lock", len(keys), func(ctx context.Context) error {
		got, err := lockScript.Run(ctx, s.client, lockKeys, holder, ttl.Milliseconds()).Int64Slice()
		if err != nil {
			return err
		}
		if len(got) != len(keys) {
			return fmt.Errorf("lock script returned %d values for %d keys", len(got), len(keys))
		}
		for i, v := range got {
			held[i] = composer.LockState{Held: v == 1}
			if v < 0 {
				held[i].FailedFor = time.Duration(-v) * time.Millisecond
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}

// HoldFailure replaces holder's lock of key (or no lock: it expired while
// the call ran) with a failure marker lasting hold, in one script: until
// it expires, TryLockMulti takes the key's lock for nobody and reports
// how long the hold lasts, so that no instance calls a key whose call just
// failed (composer.Settings.FailHold). A lock another holder has taken
// since is left alone. Bounded and counted like every Store call; safe for
// concurrent use.
func (s *Store) HoldFailure(ctx context.Context, key, holder string, hold time.Duration) error {
	hold = max(hold, time.Millisecond)
	return s.call(ctx, "hold", 1, func(ctx context.Context) error {
		return holdScript.Run(ctx, s.client, []string{lockPrefix + key}, holder, hold.Milliseconds()).Err()
	})
}
