package composer

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Locker is an optional capability of a Store: cross-instance locks, so that
// of all the composer instances sharing the Store, one calls a fragment for
// a key and the others wait for its result in the Store.
type Locker interface {
	// TryLockMulti tries to take the lock of every key for ttl, in one round
	// trip, without waiting. held[i] reports whether this instance now
	// holds key i. On error, callers proceed as if they held every lock:
	// the lock saves duplicate work, it guards no correctness.
	TryLockMulti(ctx context.Context, keys []string, ttl time.Duration) (held []bool, err error)
}

// Invalidator is an optional capability of a Store: fragment generations
// shared by every instance. Purging a fragment bumps its generation, which
// is part of its entries' version, so every entry of the old generation is
// unreachable at once on every instance that has heard of the purge.
type Invalidator interface {
	// Purge bumps the fragment's generation, tells every instance, and
	// returns the new generation.
	Purge(ctx context.Context, fragment string) (int64, error)
	// Generation returns the fragment's current generation.
	Generation(ctx context.Context, fragment string) (int64, error)
}

// version returns the version that keys f's entries: the Spec's version,
// and its generation once it has been purged.
func (c *Composer) version(f *Fragment) string {
	if !c.purged.Load() {
		return f.Spec.Version
	}
	if v, ok := c.gens.Load(f.Spec.Name); ok {
		return v.(*genVersion).version
	}
	return f.Spec.Version
}

type genVersion struct {
	gen     int64
	version string
}

// ApplyGeneration makes gen the generation of fragment on this instance
// (an older one is ignored) and drops its in-process entries. Instances call
// it when they hear of a purge; it is safe for concurrent use.
func (c *Composer) ApplyGeneration(fragment string, gen int64) {
	f := c.site.Load().Fragments[fragment]
	if f == nil {
		return
	}
	nv := &genVersion{gen: gen, version: f.Spec.Version + "." + strconv.FormatInt(gen, 10)}
	c.purged.Store(true)
	for {
		old, loaded := c.gens.Load(fragment)
		if loaded && old.(*genVersion).gen >= gen {
			return
		}
		if !loaded {
			if _, raced := c.gens.LoadOrStore(fragment, nv); raced {
				continue
			}
		} else if !c.gens.CompareAndSwap(fragment, old, nv) {
			continue
		}
		break
	}
	c.Purge(fragment)
}

// SyncGenerations reads every fragment's generation from the Invalidator,
// as an instance must when it starts or reconnects (purges announced while
// it was not listening were missed).
func (c *Composer) SyncGenerations(ctx context.Context) error {
	inv, ok := c.store.(Invalidator)
	if !ok {
		return nil
	}
	for _, name := range c.site.Load().FragmentNames() {
		gen, err := inv.Generation(ctx, name)
		if err != nil {
			return err
		}
		if gen > 0 {
			c.ApplyGeneration(name, gen)
		}
	}
	return nil
}

// PurgeFragment invalidates every entry of fragment: on every instance
// through the Store's Invalidator when there is one, else on this one.
func (c *Composer) PurgeFragment(ctx context.Context, fragment string) (int64, error) {
	if inv, ok := c.store.(Invalidator); ok {
		gen, err := inv.Purge(ctx, fragment)
		if err != nil {
			return 0, err
		}
		c.ApplyGeneration(fragment, gen)
		return gen, nil
	}
	var gen int64 = 1
	if v, ok := c.gens.Load(fragment); ok {
		gen = v.(*genVersion).gen + 1
	}
	c.ApplyGeneration(fragment, gen)
	return gen, nil
}

// start is a fragment call a flight is waiting to launch.
type start struct {
	fl      *flight
	ctx     context.Context
	site    *Site
	f       *Fragment
	p       Params
	key     string
	version string
	// since, for a refresh, is when the entry being refreshed was made: a
	// result from another instance counts only if it is newer.
	since   time.Time
	refresh bool
	// event marks a call made by Refresh, which stores the result itself.
	event bool
	// node is the include whose lookup started the call (nil for
	// refreshes): its level writes the result back.
	node *node
}

// launch starts calls: with a Locker, only those whose lock this instance
// takes (see split); the others wait for the lock holder's result.
func (c *Composer) launch(ctx context.Context, starts []*start) {
	local, remote := c.split(ctx, starts)
	for _, s := range local {
		c.call(s)
	}
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
	keys := make([]string, len(shared))
	var ttl time.Duration
	for i, s := range shared {
		keys[i] = StoreKey(s.version, s.key)
		ttl = max(ttl, s.f.Settings.Timeout)
	}
	held, err := locker.TryLockMulti(ctx, keys, ttl)
	if err != nil || len(held) != len(shared) {
		return append(local, shared...), nil
	}
	for i, s := range shared {
		if held[i] {
			local = append(local, s)
		} else {
			remote = append(remote, s)
		}
	}
	return local, remote
}

// waitRemote completes the remote starts' flights as their results appear
// in the Store (see awaitRemote).
func (c *Composer) waitRemote(remote []*start) {
	if len(remote) == 0 {
		return
	}
	c.stats.RemoteWaits.Add(int64(len(remote)))
	c.bg.Add(1)
	go c.awaitRemote(remote)
}

// remotePoll is how often an instance that did not get a lock looks for the
// holder's result. Each look is one round trip for all the keys it waits for.
const remotePoll = 2 * time.Millisecond

// awaitRemote completes flights whose call another instance is making, as
// their results appear in the Store, or with a timeout at their deadline.
func (c *Composer) awaitRemote(waiting []*start) {
	defer c.bg.Done()
	started := time.Now()
	t := time.NewTimer(remotePoll)
	defer t.Stop()
	for len(waiting) > 0 {
		select {
		case <-t.C:
		case <-c.closed:
			for _, s := range waiting {
				s.fl.complete(nil, errTimeout)
			}
			return
		}
		keys := make([]string, len(waiting))
		for i, s := range waiting {
			keys[i] = StoreKey(s.version, s.key)
		}
		// A look may take as long as the longest wait allows: on a busy
		// machine a short fixed timeout would never see the result.
		var deadline time.Time
		for _, s := range waiting {
			if d, ok := s.ctx.Deadline(); ok && d.After(deadline) {
				deadline = d
			}
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		entries, err := c.store.GetMulti(ctx, keys)
		cancel()
		now := time.Now()
		rest := waiting[:0]
		for i, s := range waiting {
			var e *Entry
			if err == nil && i < len(entries) {
				e = entries[i]
			}
			if e != nil && e.Key == s.key && e.Version == s.version && now.Before(e.StaleUntil) && e.Created.After(s.since) {
				e.segs = c.storeSegments(s.site, s.f.Spec, e)
				e.written.Store(true) // it came from the Store
				if s.fl.complete(e, nil) && c.l1w != nil {
					c.l1w.add(e, s.fl)
				} else {
					s.fl.forget()
				}
				continue
			}
			if s.ctx.Err() != nil {
				s.fl.complete(nil, errTimeout)
				continue
			}
			if now.Sub(started) > s.f.Settings.Timeout/2 {
				// Half the holder's time gone and nothing in the Store: its
				// write-back may have failed, or the holder died. Call it
				// here, once, rather than let every waiter time out.
				c.stats.RemoteTakeovers.Add(1)
				s.ctx = detached(now.Add(s.f.Settings.Timeout))
				c.call(s)
				continue
			}
			rest = append(rest, s)
		}
		waiting = rest
		t.Reset(remotePoll)
	}
}

// level collects the fresh results of the calls one page level made, so
// that they go to the Store in one pipeline when those calls have settled.
// Only calls this instance makes count: includes waiting for another
// request's call, or for another instance's (which holds the key's lock),
// do not hold the level back — two instances each holding part of the
// other's level would otherwise wait for each other until their timeouts.
type level struct {
	c       *Composer
	pending atomic.Int32
	mu      sync.Mutex
	fresh   []*Entry
	flushed atomic.Bool
}

func (r *request) newLevel(n int) *level {
	if r.c.wb == nil || n == 0 {
		return nil
	}
	l := &level{c: r.c}
	l.pending.Store(int32(n))
	r.mu.Lock()
	r.levels = append(r.levels, l)
	r.mu.Unlock()
	return l
}

// settle records that one of the level's includes has settled, with e when
// it was rendered for this level (and nobody else has written it).
func (l *level) settle(e *Entry) {
	if e != nil && e.written.CompareAndSwap(false, true) {
		l.mu.Lock()
		l.fresh = append(l.fresh, e)
		l.mu.Unlock()
	}
	if l.pending.Add(-1) == 0 {
		l.flush()
	}
}

func (l *level) flush() {
	if !l.flushed.CompareAndSwap(false, true) {
		return
	}
	l.mu.Lock()
	batch := l.fresh
	l.fresh = nil
	l.mu.Unlock()
	if len(batch) > 0 {
		l.c.wb.write(batch)
	}
}

// writeLater queues an entry no page level will write: a background
// refresh, or a call that finished after every include waiting for it had
// given up.
func (c *Composer) writeLater(e *Entry) {
	if c.wb != nil && e.written.CompareAndSwap(false, true) {
		c.wb.add(e)
	}
}
