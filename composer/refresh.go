package composer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// EventDep declares that a fragment's output changes when an event of Topic
// is published: the event's params name the include to refresh. Params maps
// event param names to the fragment's param names (nil: the same names);
// the fragment's params the event does not give take their defaults.
type EventDep struct {
	Topic  string
	Params map[string]string
}

// Target is one include an event names: a fragment and its key.
type Target struct {
	Fragment string
	Params   Params
	Key      string
}

// Targets returns the includes of the current site that an event of topic
// with params names: one per fragment depending on topic whose params the
// event's values satisfy.
func (c *Composer) Targets(topic string, params map[string]string) []Target {
	site := c.site.Load()
	var out []Target
	for _, name := range site.FragmentNames() {
		f := site.Fragments[name]
		for _, dep := range f.Spec.Events {
			if dep.Topic != topic {
				continue
			}
			raw := make(map[string]string, len(params))
			for k, v := range params {
				if dep.Params == nil {
					raw[k] = v
				} else if to, ok := dep.Params[k]; ok {
					raw[to] = v
				}
			}
			p, err := NewParams(f.Spec, raw)
			if err != nil {
				continue
			}
			out = append(out, Target{Fragment: name, Params: p, Key: Key(name, p)})
		}
	}
	return out
}

// ErrNotCached is returned by Refresh for a fragment whose results are
// never cached (per-user, or no fresh and stale time): there is nothing to
// refresh.
var ErrNotCached = errors.New("composer: fragment is not cached")

// Refresh renders t now, whatever the freshness of its cached entry, puts
// the result in the in-process tier and writes it to the Store before
// returning it, so that when it returns every instance reading the Store
// sees the new entry. It is how events make a change visible: the caller
// then tells the other instances to drop their in-process copies
// (DropKey). It does not take the cross-instance lock: callers make sure
// one instance handles each event (a Redis Streams consumer group).
//
// Concurrent Refreshes of one key share one call. Refresh waits as long as
// ctx allows; the call runs under the fragment's timeout whatever ctx does.
func (c *Composer) Refresh(ctx context.Context, t Target) (*Entry, error) {
	site := c.site.Load()
	f := site.Fragments[t.Fragment]
	if f == nil {
		return nil, fmt.Errorf("%w %q", errUnknown, t.Fragment)
	}
	if f.Spec.perUser() || f.Settings.Fresh+f.Settings.Stale <= 0 {
		return nil, ErrNotCached
	}
	type result struct {
		e   *Entry
		err error
	}
	ch := make(chan result, 1)
	// A namespace of its own, and a call that starts after this one was
	// asked for: a call started before the event may have read the data
	// from before the change.
	c.flights.Join(nil, "!"+t.Key, time.Time{}, false, time.Now(), waiter{fn: func(e *Entry, err error, _ bool, _ time.Time) { ch <- result{e, err} }}, func(fl *flight) {
		c.call(&start{fl: fl, site: site, f: f, p: t.Params,
			key: t.Key, version: c.version(f), event: true})
	}, nil)
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.err != nil {
		return nil, res.err
	}
	if c.l1 != nil {
		c.l1.SetUnlessNewer(res.e) // a later event's refresh may have been quicker
	}
	if c.store != nil && res.e.written.CompareAndSwap(false, true) {
		wctx, cancel := context.WithTimeout(ctx, writeBackTimeout)
		defer cancel()
		if err := c.store.SetMulti(wctx, []*Entry{res.e}); err != nil {
			return res.e, fmt.Errorf("composer: refresh of %s rendered but not stored: %w", t.Key, err)
		}
	}
	return res.e, nil
}

// DropKey removes the in-process entry of key unless it is at least as
// recent as made (an instance that rendered the new entry itself keeps it).
// Instances call it when they hear that another instance refreshed key;
// then, the new entry being what this instance serves, the Purger (if any)
// is told to drop the pages showing the old one.
func (c *Composer) DropKey(key string, made time.Time) bool {
	defer c.purgeInclude(key)
	if c.l1 == nil {
		return false
	}
	if e, ok := c.l1.Cache().GetIfPresent(key); ok && !e.Created.Before(made) {
		return false
	}
	_, dropped := c.l1.Cache().Invalidate(key)
	return dropped
}

// refresh starts a background refresh of stale entry e unless a call for
// its key is in flight. Nothing of it runs on the caller's goroutine. The
// refresh takes the key's cross-instance lock like any call: an instance
// that does not get it makes no call, keeps serving e, and picks up the
// holder's newer entry from the Store (see waitRemote). The refresh is no
// client's: it is never cancelled because one leaves.
func (c *Composer) refresh(site *Site, f *Fragment, p Params, e *Entry) {
	select {
	case <-c.closed:
		return
	default:
	}
	version := c.version(f)
	var recheck func() *Entry
	if c.l1 != nil {
		// The caller read e a moment ago; a refresh of it may have
		// completed (and left the group) since: then there is nothing
		// left to refresh.
		recheck = func() *Entry {
			if cur, ok := c.inL1(e.Key, version); ok && cur.Created.After(e.Created) {
				return cur
			}
			return nil
		}
	}
	c.flights.Join(nil, e.Key, time.Time{}, false, time.Time{}, waiter{}, func(fl *flight) {
		c.refreshes.add(c, &start{fl: fl, site: site, f: f, p: p,
			key: e.Key, version: version, since: e.Created, refresh: true})
	}, recheck)
}

// refreshWindow is how long refreshes gather before they are launched
// together: the stale includes of one page level (a scoreboard's thousand
// scores) then take their locks in one round trip rather than one each.
const refreshWindow = time.Millisecond

// refreshQueue gathers refreshes for one launch.
type refreshQueue struct {
	mu      sync.Mutex
	pending []*start
	armed   bool
}

func (q *refreshQueue) add(c *Composer, s *start) {
	q.mu.Lock()
	q.pending = append(q.pending, s)
	arm := !q.armed
	q.armed = true
	q.mu.Unlock()
	if !arm {
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		t := time.NewTimer(refreshWindow)
		select {
		case <-t.C:
		case <-c.closed:
			t.Stop()
		}
		q.mu.Lock()
		batch := q.pending
		q.pending, q.armed = nil, false
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), remoteLook)
		defer cancel()
		c.launch(ctx, batch)
	}()
}
