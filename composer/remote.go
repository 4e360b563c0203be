package composer

import (
	"context"
	"time"
)

// waitRemote completes the remote starts' flights as their results appear
// in the Store: c.remote, a coord.Poller, looks for them all every
// remotePoll (see lookRemote).
func (c *Composer) waitRemote(remote []*start) {
	if len(remote) == 0 {
		return
	}
	c.stats.RemoteWaits.Add(int64(len(remote)))
	// A bound for Stores that cannot say whether a lock is still held:
	// by then the holder's lock has expired.
	until := time.Now().Add(lockGrace)
	for _, s := range remote {
		s.waitUntil = until.Add(s.f.Settings.Timeout)
	}
	c.remote.Wait(remote)
}

// remotePoll is how often an instance looks for the results other
// instances are making for it: one round trip for all the keys it waits
// for, and one more for those still missing.
const remotePoll = 2 * time.Millisecond

// remoteLook bounds one look. On a busy machine a short bound would never
// see the result; the look is off every request's path.
const remoteLook = 250 * time.Millisecond

// lookRemote looks once for the results of waiting and returns the starts
// still waiting. A start ends when the holder's result is in the Store
// (its flight completes with it), when every request waiting for it has
// gone away (its flight was abandoned), or when the holder's lock is gone
// without a result: then this instance takes the lock and makes the call
// itself. It waits as long as the lock is held — the requests waiting for
// the flight give up at their own deadlines, the flight does not — so that
// an instance never calls a fragment while another is calling it.
func (c *Composer) lookRemote(waiting []*start) []*start {
	live := waiting[:0]
	for _, s := range waiting {
		if !s.fl.IsDone() { // abandoned: nobody wants it any more
			live = append(live, s)
		}
	}
	missing := c.collectRemote(live)
	if len(missing) == 0 {
		return nil
	}
	locker, _ := c.store.(Locker)
	if locker == nil {
		c.takeOver(missing, time.Time{})
		return nil
	}
	locks, until, err := c.tryLock(context.Background(), locker, missing)
	down := err != nil && storeDown(err)
	now := time.Now()
	var free, unlocked, rest []*start
	for i, s := range missing {
		switch {
		case err == nil && locks[i].Held:
			free = append(free, s)
		case err == nil && c.honoursHold(s, locks[i]):
			// The holder's call failed: its hold covers this instance too.
			c.heldElsewhere(s, locks[i].FailedFor)
		case err == nil && locks[i].FailedFor > 0:
			unlocked = append(unlocked, s) // a hold from before SetSite, or a primary's call
		case down, err != nil && now.After(s.waitUntil):
			// No lock to be had: call here, as split does.
			free = append(free, s)
		default:
			rest = append(rest, s)
		}
	}
	c.takeOver(unlocked, time.Time{})
	if len(free) == 0 {
		return rest
	}
	if err == nil {
		// The holder may have written its result just before its lock
		// expired: look once more before calling.
		free = c.collectRemote(free)
	}
	if err != nil {
		until = time.Time{}
	}
	c.takeOver(free, until)
	return rest
}

// collectRemote completes the starts whose result is in the Store and
// returns the others.
func (c *Composer) collectRemote(waiting []*start) []*start {
	if len(waiting) == 0 {
		return nil
	}
	keys := make([]string, len(waiting))
	for i, s := range waiting {
		keys[i] = StoreKey(s.version, s.key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteLook)
	entries, err := c.getStore(ctx, keys)
	cancel()
	now := time.Now()
	var rest []*start
	for i, s := range waiting {
		var e *Entry
		if err == nil && i < len(entries) {
			e = entries[i]
		}
		if !c.admitStored(s.site, s.f, s.key, s.version, e, now) || !e.Created.After(s.since) {
			rest = append(rest, s)
			continue
		}
		// Each flight on a goroutine of its own, as calls complete theirs:
		// a key a thousand requests wait for runs a thousand callbacks.
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			e.segs = c.storeSegments(s.site, s.f.Spec, e)
			e.written.Store(true) // it came from the Store
			if s.fl.Complete(e, nil) && c.l1w != nil {
				c.l1w.Add(e, s.fl)
			} else {
				s.fl.Forget()
			}
		}()
	}
	return rest
}

// takeOver calls here the starts whose holder's lock is gone without a
// result; this instance holds their lock now, until lockedUntil, unless
// the Store could not say (zero: then it calls without one, as split
// does).
func (c *Composer) takeOver(starts []*start, lockedUntil time.Time) {
	for _, s := range starts {
		c.stats.RemoteTakeovers.Add(1)
		s.locked, s.lockedUntil = !lockedUntil.IsZero(), lockedUntil
		c.call(s)
	}
}
