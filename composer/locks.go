package composer

import (
	"context"
	"errors"
	"net"
	"os"
	"time"
)

// Locker is an optional capability of a Store: cross-instance locks, so that
// of all the composer instances sharing the Store, one calls a fragment for
// a key and the others wait for its result in the Store.
type Locker interface {
	// TryLockMulti tries to take the lock of every key for holder (a token
	// naming this instance) for ttl, in one round trip, without waiting.
	// locks[i] says whether holder now holds key i, including a lock it
	// held already (whose ttl starts again): a lock call that timed out
	// may have taken its locks, and retrying it must not find them
	// someone else's; or, for a key on hold after a failed call (see
	// HoldFailure), how much longer the hold lasts. The lock saves
	// duplicate work; it guards no correctness.
	TryLockMulti(ctx context.Context, keys []string, holder string, ttl time.Duration) (locks []LockState, err error)
	// Unlock releases key's lock if holder still holds it.
	Unlock(ctx context.Context, key, holder string) error
	// HoldFailure replaces holder's lock of key (or no lock) with a
	// failure marker lasting hold: holder's call failed, and until the
	// marker expires nobody, holder included, takes the key's lock
	// (TryLockMulti reports the hold instead). A lock someone else holds
	// is left alone.
	HoldFailure(ctx context.Context, key, holder string, hold time.Duration) error
}

// LockState is what TryLockMulti found for one key.
type LockState struct {
	// Held: the caller holds the key's lock now.
	Held bool
	// FailedFor, when the lock is not held, is how much longer the key is
	// on hold because its holder's call failed (0: the holder's call is
	// running, or its result is on its way).
	FailedFor time.Duration
}

// errFailedElsewhere is the error of includes whose key is on hold
// because another instance's call for it failed.
var errFailedElsewhere = errors.New("composer: the fragment call failed on another instance (held)")

// lockGrace is how much longer than the fragment's timeout a key's
// cross-instance lock lasts: the holder's result reaches the Store only
// after its call (bounded by the timeout), the rest of its level and the
// write-back, and instances waiting for it take over only once the lock is
// gone. A holder whose call fails releases the lock at once; the grace
// only delays a holder that died or hung.
const lockGrace = 500 * time.Millisecond

// launch starts calls: with a Locker, only those whose lock this instance
// takes (see split); the others wait for the lock holder's result.
func (c *Composer) launch(ctx context.Context, starts []*start) {
	local, remote := c.split(ctx, starts)
	c.callAll(local)
	c.waitRemote(remote)
}

// split sorts starts into the calls this instance makes and those another
// instance is making: with a Locker, the locks of all shared starts are
// taken in one round trip, and those this instance did not get are left to
// their holder. Without a Locker (or when it fails) every call is local.
func (c *Composer) split(ctx context.Context, starts []*start) (local, remote []*start) {
	locker, ok := c.store.(Locker)
	var shared []*start
	for _, s := range starts {
		if !ok || s.f.Spec.perUser() {
			local = append(local, s)
		} else {
			shared = append(shared, s)
		}
	}
	if len(shared) == 0 {
		return local, nil
	}
	locks, until, err := c.tryLock(ctx, locker, shared)
	if err != nil {
		if storeDown(err) {
			return append(local, shared...), nil
		}
		// Slow rather than down: the locks may have been taken, by this
		// call or another instance's. Calling here could duplicate the
		// holder's call; the poller looks for its result and tries the
		// locks again instead.
		return local, shared
	}
	for i, s := range shared {
		switch {
		case locks[i].Held:
			s.locked, s.lockedUntil = true, until
			local = append(local, s)
		case c.honoursHold(s, locks[i]):
			c.heldElsewhere(s, locks[i].FailedFor)
		case locks[i].FailedFor > 0:
			// A hold from before this instance's configuration changed,
			// or one a primary include does not take for an answer:
			// call, without the lock (the marker has it), as SetSite
			// promises.
			local = append(local, s)
		default:
			remote = append(remote, s)
		}
	}
	return local, remote
}

// honoursHold reports whether s takes another instance's failure hold on
// its key (l.FailedFor > 0) for its answer: not for a primary include (see
// flights.join), nor for a hold that began before this instance's
// configuration last changed (see SetSite) — when it began is estimated
// from this instance's FailHold for the fragment. A hold not honoured is
// called through, without the lock (the marker has it).
func (c *Composer) honoursHold(s *start, l LockState) bool {
	if l.FailedFor <= 0 || s.primary {
		return false
	}
	at := c.siteAt.Load()
	if at == 0 {
		return true
	}
	began := time.Now().Add(l.FailedFor - s.f.Settings.EffectiveFailHold())
	return began.UnixNano() > at
}

// heldElsewhere completes s's flight with errFailedElsewhere, holding its
// key here for as long as the other instance's failure marker lasts: its
// includes get stale or fallback content, as on the instance whose call
// failed, and nobody calls the key meanwhile.
func (c *Composer) heldElsewhere(s *start, hold time.Duration) {
	c.stats.RemoteFailures.Add(1)
	s.fl.Fail(errFailedElsewhere, hold)
}

// holdFailure turns the lock s's failed call held into the key's failure
// marker for hold, so that the other instances do not call the key either
// (they would otherwise take the released lock and call at once). Without
// a lock (the Store was down when the call started) there is nothing to
// tell them.
func (c *Composer) holdFailure(s *start, hold time.Duration) {
	if !s.locked {
		return
	}
	locker, ok := c.store.(Locker)
	if !ok {
		return
	}
	// Like a write-back: without the marker the others take over once the
	// lock expires.
	ctx, cancel := context.WithTimeout(context.Background(), min(hold, writeBackTimeout))
	defer cancel()
	key := StoreKey(s.version, s.key)
	err := retryTimeouts(ctx, func() error { return locker.HoldFailure(ctx, key, c.holder, hold) })
	if err != nil {
		// The lock still expires by itself; until then the others wait.
		c.log.Debug("composer: failure hold not stored", "key", s.key, "err", err)
	}
	s.locked = false
}

// tryLock takes the locks of starts' keys in one round trip, for the
// longest of their timeouts plus lockGrace. until is the earliest the
// locks taken can lapse: their life counted from before the call.
func (c *Composer) tryLock(ctx context.Context, locker Locker, starts []*start) (locks []LockState, until time.Time, err error) {
	// The calls are shared: the request that happens to take their locks
	// may be gone (its includes timed out, its page ended) before its lock
	// call returns, and failing it would make every call local.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteLook)
	defer cancel()
	keys := make([]string, len(starts))
	var ttl time.Duration
	for i, s := range starts {
		keys[i] = StoreKey(s.version, s.key)
		ttl = max(ttl, s.f.Settings.Timeout)
	}
	until = time.Now().Add(ttl + lockGrace)
	locks, err = locker.TryLockMulti(ctx, keys, c.holder, ttl+lockGrace)
	if err == nil && len(locks) != len(starts) {
		err = errors.New("composer: lock: wrong number of results")
	}
	return locks, until, err
}

// storeDown reports whether a Store error means the Store cannot be used
// now (its breaker is open, it refuses connections), rather than that it
// is slow: a lock call that timed out may still have taken its locks.
func storeDown(err error) bool { return !IsTimeout(err) }

// IsTimeout reports whether err is a timeout: a context's deadline, or a
// socket's (which the Redis client sets from it). The composer takes a
// Store error that is a timeout for "slow", any other for "down"; Stores
// use it to tell the two apart too.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// unlock releases the lock s's call held, when it ends without a result.
func (c *Composer) unlock(s *start) {
	if !s.locked {
		return
	}
	locker, ok := c.store.(Locker)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteLook)
	defer cancel()
	_ = locker.Unlock(ctx, StoreKey(s.version, s.key), c.holder)
	s.locked = false
}
