package composer

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
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
	fl *flight
	// ctx gives the call its values (the reader), nil for none; the call
	// makes its own deadline and cancellation (see callCtx).
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
	// primary: the call is for a primary include, which does not take
	// another instance's failure hold for an answer (see flights.join).
	primary bool
	// locked is set when this instance holds the key's cross-instance
	// lock for the call; waitUntil bounds a wait for another instance.
	locked    bool
	waitUntil time.Time
}

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
	locks, err := c.tryLock(ctx, locker, shared)
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
			s.locked = true
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
	s.fl.fail(errFailedElsewhere, hold)
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
// longest of their timeouts plus lockGrace.
func (c *Composer) tryLock(ctx context.Context, locker Locker, starts []*start) ([]LockState, error) {
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
	held, err := locker.TryLockMulti(ctx, keys, c.holder, ttl+lockGrace)
	if err == nil && len(held) != len(starts) {
		err = errors.New("composer: lock: wrong number of results")
	}
	return held, err
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

// remoteWaits are the starts whose call another instance is making, all
// watched by one poller goroutine while there are any.
type remoteWaits struct {
	mu      sync.Mutex
	waiting []*start
	polling bool
}

// waitRemote completes the remote starts' flights as their results appear
// in the Store (see pollRemote).
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
	rw := &c.remote
	rw.mu.Lock()
	rw.waiting = append(rw.waiting, remote...)
	poll := !rw.polling
	rw.polling = true
	rw.mu.Unlock()
	if poll {
		c.bg.Add(1)
		go c.pollRemote()
	}
}

// remotePoll is how often an instance looks for the results other
// instances are making for it: one round trip for all the keys it waits
// for, and one more for those still missing.
const remotePoll = 2 * time.Millisecond

// remoteLook bounds one look. On a busy machine a short bound would never
// see the result; the look is off every request's path.
const remoteLook = 250 * time.Millisecond

// pollRemote watches every remote start until none is left. A start ends
// when the holder's result is in the Store (its flight completes with it),
// when every request waiting for it has gone away (its flight was
// abandoned), or when the holder's lock is gone without a result: then
// this instance takes the lock and makes the call itself. It waits as long
// as the lock is held — the requests waiting for the flight give up at
// their own deadlines, the flight does not — so that an instance never
// calls a fragment while another is calling it.
func (c *Composer) pollRemote() {
	defer c.bg.Done()
	rw := &c.remote
	t := time.NewTimer(remotePoll)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.closed:
			rw.mu.Lock()
			waiting := rw.waiting
			rw.waiting, rw.polling = nil, false
			rw.mu.Unlock()
			for _, s := range waiting {
				s.fl.complete(nil, errTimeout)
			}
			return
		}
		rw.mu.Lock()
		waiting := rw.waiting
		rw.waiting = nil
		if len(waiting) == 0 {
			rw.polling = false
			rw.mu.Unlock()
			return
		}
		rw.mu.Unlock()
		rest := c.lookRemote(waiting)
		rw.mu.Lock()
		rw.waiting = append(rest, rw.waiting...)
		rw.mu.Unlock()
		t.Reset(remotePoll)
	}
}

// lookRemote looks once for the results of waiting and returns the starts
// still waiting.
func (c *Composer) lookRemote(waiting []*start) []*start {
	live := waiting[:0]
	for _, s := range waiting {
		if !s.fl.isDone() { // abandoned: nobody wants it any more
			live = append(live, s)
		}
	}
	missing := c.collectRemote(live)
	if len(missing) == 0 {
		return nil
	}
	locker, _ := c.store.(Locker)
	if locker == nil {
		c.takeOver(missing, false)
		return nil
	}
	locks, err := c.tryLock(context.Background(), locker, missing)
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
	c.takeOver(unlocked, false)
	if len(free) == 0 {
		return rest
	}
	if err == nil {
		// The holder may have written its result just before its lock
		// expired: look once more before calling.
		free = c.collectRemote(free)
	}
	c.takeOver(free, err == nil)
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
			if s.fl.complete(e, nil) && c.l1w != nil {
				c.l1w.add(e, s.fl)
			} else {
				s.fl.forget()
			}
		}()
	}
	return rest
}

// takeOver calls here the starts whose holder's lock is gone without a
// result; this instance holds their lock now (locked), unless the Store
// could not say (then it calls without one, as split does).
func (c *Composer) takeOver(starts []*start, locked bool) {
	for _, s := range starts {
		c.stats.RemoteTakeovers.Add(1)
		s.locked = locked
		c.call(s)
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
		if l.flushed.Load() {
			// The level was flushed already (its request ended first):
			// e goes on its own.
			l.mu.Unlock()
			l.c.wb.add(e)
		} else {
			l.fresh = append(l.fresh, e)
			l.mu.Unlock()
		}
	}
	if l.pending.Add(-1) == 0 {
		l.flush()
	}
}

func (l *level) flush() {
	l.mu.Lock()
	if !l.flushed.CompareAndSwap(false, true) {
		l.mu.Unlock()
		return
	}
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

// lookups coalesces concurrent look-ups of the same keys in the Store, as
// flights coalesce calls. When a thousand requests for a cold page arrive
// together, each would otherwise send its own MGET for the same keys, all
// misses, before the first of them has even started the calls: on two
// cores that herd of round trips alone outlasts the includes' timeouts.
// With lookups, the first request looks a key up and the others arriving
// while it does wait for its answer.
type lookups struct {
	mu sync.Mutex
	m  map[string]lookupSlot
	// active counts look-ups in progress. One that starts alone does not
	// publish its keys (a map insert and delete per key, some 0.2 µs: half
	// a millisecond on a 2,000-include page); the next one to start while
	// it runs does, and the rest of a herd shares that one.
	active int
}

type lookupSlot struct {
	b *lookupBatch
	i int
}

// lookupBatch is one GetMulti, shared by the requests that joined it.
type lookupBatch struct {
	done    chan struct{}
	entries []*Entry
	err     error
}

// getMulti is the Store's GetMulti, coalesced with the look-ups of the same
// keys already in progress. A failure of this request's own look-up is an
// error for the whole batch (a miss, like GetMulti's); a failure of a
// look-up it joined is a miss for the keys it waited for. Entries another
// request looked up are copies: callers may set their unexported fields.
func (c *Composer) getMulti(ctx context.Context, keys []string) ([]*Entry, error) {
	lk := &c.lookups
	lk.mu.Lock()
	lk.active++
	if lk.active == 1 && len(lk.m) == 0 {
		lk.mu.Unlock()
		entries, err := c.getStore(ctx, keys)
		lk.mu.Lock()
		lk.active--
		lk.mu.Unlock()
		return entries, err
	}
	defer func() {
		lk.mu.Lock()
		lk.active--
		lk.mu.Unlock()
	}()
	own := &lookupBatch{done: make(chan struct{})}
	var ownKeys []string
	var ownAt, joinedAt []int
	var joined []lookupSlot
	if lk.m == nil {
		lk.m = make(map[string]lookupSlot)
	}
	for i, k := range keys {
		if sl, ok := lk.m[k]; ok {
			joinedAt = append(joinedAt, i)
			joined = append(joined, sl)
			continue
		}
		lk.m[k] = lookupSlot{own, len(ownKeys)}
		ownKeys = append(ownKeys, k)
		ownAt = append(ownAt, i)
	}
	lk.mu.Unlock()
	if len(joined) == 0 {
		// Nothing to share with: the plain look-up (ownKeys == keys).
		entries, err := c.getStore(ctx, keys)
		lk.finish(own, ownKeys, entries, err)
		return entries, err
	}
	out := make([]*Entry, len(keys))
	if len(ownKeys) > 0 {
		entries, err := c.getStore(ctx, ownKeys)
		lk.finish(own, ownKeys, entries, err)
		if err != nil {
			return nil, err
		}
		if len(entries) != len(ownKeys) {
			return nil, errors.New("composer: store returned the wrong number of entries")
		}
		for j, i := range ownAt {
			out[i] = entries[j]
		}
	}
	for j, sl := range joined {
		select {
		case <-sl.b.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if sl.b.err == nil && sl.i < len(sl.b.entries) {
			if e := sl.b.entries[sl.i]; e != nil {
				out[joinedAt[j]] = storeCopy(e)
			}
		}
	}
	return out, nil
}

// finish publishes b's result to the requests that joined it.
func (lk *lookups) finish(b *lookupBatch, keys []string, entries []*Entry, err error) {
	b.entries, b.err = entries, err
	if err == nil && len(entries) != len(keys) {
		b.err = errors.New("composer: store returned the wrong number of entries")
	}
	lk.mu.Lock()
	for _, k := range keys {
		if lk.m[k].b == b {
			delete(lk.m, k)
		}
	}
	lk.mu.Unlock()
	close(b.done)
}

// getStore looks keys up in the Store and normalizes the HTML of every
// entry found (see normalize.go) before anything else sees it: a value
// from another process is trusted no more than a fresh render.
func (c *Composer) getStore(ctx context.Context, keys []string) ([]*Entry, error) {
	entries, err := c.store.GetMulti(ctx, keys)
	for _, e := range entries {
		if e != nil {
			c.normalizeStored(e)
		}
	}
	return entries, err
}

// storeCopy copies an entry read from the Store (its exported fields, which
// nobody writes), for a request that shared another's look-up.
func storeCopy(e *Entry) *Entry {
	return &Entry{Key: e.Key, Version: e.Version, HTML: e.HTML, Assets: e.Assets,
		Created: e.Created, FreshUntil: e.FreshUntil, StaleUntil: e.StaleUntil, Leaf: e.Leaf}
}
