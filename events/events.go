// Package events makes content changes reach every page within a second:
// a published event (a goal in match m0042) refreshes exactly the cache
// entries of the fragments that declare they depend on it (composer.Spec
// Events), once across all composer instances, and every instance drops
// its stale in-process copy.
//
// The flow of one event:
//
//  1. Publish appends it to the bus: a Redis stream (see RedisBus), or,
//     without Redis, the Handler of the one instance directly (LocalBus).
//  2. One instance of the deployment takes it (the stream's consumer group
//     hands each event to one consumer) and gives it to its Handler.
//  3. The Handler finds the event's targets (composer.Targets), re-renders
//     each with composer.Refresh (which writes the new entry to Redis
//     before it returns), coalescing repeated events for one key.
//  4. It announces each refreshed key; every instance drops its in-process
//     copy older than the new entry, so its next page reads the new one.
//  5. Each instance records the time from publish to that moment: the
//     event's freshness, exported as a histogram.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/broadsheet/broadsheet/composer"
)

// Event is one published change.
type Event struct {
	// ID is assigned by the bus.
	ID     string            `json:"id,omitempty"`
	Topic  string            `json:"topic"`
	Params map[string]string `json:"params,omitempty"`
	// At is when the event was published.
	At time.Time `json:"at"`
	// Invalidate drops the named entries instead of refreshing them: the
	// next page renders them.
	Invalidate bool `json:"invalidate,omitempty"`
}

// Limits on what an event may carry; events come from outside.
const (
	MaxTopicLen  = 128
	MaxParams    = 16
	MaxParamLen  = 256
	maxWorkers   = 64
	maxQueued    = 1 << 16
	refreshLimit = 5 * time.Second
)

// Validate checks an event from outside.
func (e *Event) Validate() error {
	if e.Topic == "" || len(e.Topic) > MaxTopicLen || !utf8.ValidString(e.Topic) {
		return errors.New("events: topic must be 1 to 128 bytes of UTF-8")
	}
	for _, r := range e.Topic {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("events: topic %q: want lowercase letters, digits, '.', '-' or '_'", e.Topic)
		}
	}
	if len(e.Params) > MaxParams {
		return fmt.Errorf("events: more than %d params", MaxParams)
	}
	for k, v := range e.Params {
		if k == "" || len(k) > 64 || len(v) > MaxParamLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return errors.New("events: param names are 1 to 64 bytes, values at most 256, UTF-8")
		}
	}
	return nil
}

// Announcer tells every instance (itself included) that key has a new
// entry, made at made, because of an event published at at.
type Announcer interface {
	Announce(ctx context.Context, fragment, key string, made, at time.Time) error
}

// Stats are a Handler's counters.
type Stats struct {
	Events    atomic.Int64 // events handled
	Refreshes atomic.Int64 // fragment re-renders
	Coalesced atomic.Int64 // requests folded into a refresh already queued
	Errors    atomic.Int64 // refreshes that failed
	NoTarget  atomic.Int64 // events no fragment depends on
}

// LastEvent is the last event that touched a fragment, for the explorer.
type LastEvent struct {
	Event   Event
	Key     string
	Visible time.Duration // publish → visible on this instance
	When    time.Time
}

// Handler applies events to one composer instance. It is safe for
// concurrent use; Close stops its workers.
type Handler struct {
	c        *composer.Composer
	announce Announcer
	log      *slog.Logger
	// OnVisible, when set, is told the publish-to-visible time of every
	// refreshed key on this instance (for a histogram). Set before use.
	OnVisible func(fragment string, d time.Duration)

	stats Stats
	work  chan string
	mu    sync.Mutex
	keys  map[string]*pendingKey
	last  map[string]LastEvent
	wg    sync.WaitGroup
	stop  chan struct{}
	once  sync.Once
}

// pendingKey is a key queued or being refreshed. Events for it that arrive
// meanwhile set again, so that one more refresh runs after the current
// one: repeated events coalesce, and none is lost.
type pendingKey struct {
	target  composer.Target
	ev      Event
	running bool
	again   bool
	done    []func()
}

// NewHandler returns a Handler refreshing c's entries and announcing them
// with a (nil: only this instance is told, for a single instance).
func NewHandler(c *composer.Composer, a Announcer, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{c: c, announce: a, log: log, work: make(chan string, maxQueued),
		keys: map[string]*pendingKey{}, last: map[string]LastEvent{}, stop: make(chan struct{})}
	for range maxWorkers {
		h.wg.Add(1)
		go h.worker()
	}
	return h
}

// Stats returns the Handler's counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// Last returns the last event that touched fragment.
func (h *Handler) Last(fragment string) (LastEvent, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.last[fragment]
	return l, ok
}

// Close stops the workers; refreshes in progress finish first.
func (h *Handler) Close() {
	h.once.Do(func() { close(h.stop) })
	h.wg.Wait()
}

// Handle applies ev: it queues a refresh (or drops the entries, with
// Invalidate) of every include ev names and calls done, if not nil, once
// they have all been applied. It never blocks on a fragment.
func (h *Handler) Handle(ev Event, done func()) {
	h.stats.Events.Add(1)
	targets := h.c.Targets(ev.Topic, ev.Params)
	if len(targets) == 0 {
		h.stats.NoTarget.Add(1)
		if done != nil {
			done()
		}
		return
	}
	var remaining atomic.Int32
	remaining.Store(int32(len(targets)))
	each := func() {
		if remaining.Add(-1) == 0 && done != nil {
			done()
		}
	}
	for _, t := range targets {
		if ev.Invalidate {
			h.c.DropKey(t.Key, time.Now())
			if h.announce != nil {
				_ = h.announce.Announce(context.Background(), t.Fragment, t.Key, time.Now(), ev.At)
			}
			each()
			continue
		}
		h.enqueue(t, ev, each)
	}
}

func (h *Handler) enqueue(t composer.Target, ev Event, done func()) {
	h.mu.Lock()
	if p, ok := h.keys[t.Key]; ok {
		if p.running {
			p.again = true
		}
		if ev.At.Before(p.ev.At) || p.ev.At.IsZero() {
			p.ev = ev // freshness counts from the earliest unapplied event
		}
		p.done = append(p.done, done)
		h.mu.Unlock()
		h.stats.Coalesced.Add(1)
		return
	}
	h.keys[t.Key] = &pendingKey{target: t, ev: ev, done: []func(){done}}
	h.mu.Unlock()
	select {
	case h.work <- t.Key:
	default:
		// The queue is full: refresh on a goroutine of our own rather
		// than lose the event.
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.refresh(t.Key)
		}()
	}
}

func (h *Handler) worker() {
	defer h.wg.Done()
	for {
		select {
		case key := <-h.work:
			h.refresh(key)
		case <-h.stop:
			return
		}
	}
}

// refresh re-renders key until no event for it arrived meanwhile.
func (h *Handler) refresh(key string) {
	for {
		h.mu.Lock()
		p := h.keys[key]
		p.running, p.again = true, false
		ev, t, done := p.ev, p.target, p.done
		p.done = nil
		p.ev.At = time.Time{}
		h.mu.Unlock()

		h.apply(t, ev)
		for _, d := range done {
			d()
		}

		h.mu.Lock()
		if !p.again {
			delete(h.keys, key)
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}

func (h *Handler) apply(t composer.Target, ev Event) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshLimit)
	defer cancel()
	h.stats.Refreshes.Add(1)
	e, err := h.c.Refresh(ctx, t)
	if err != nil && e == nil {
		h.stats.Errors.Add(1)
		h.log.Info("events: refresh failed", "topic", ev.Topic, "key", t.Key, "err", err)
		return
	}
	if err != nil {
		h.log.Warn("events: refreshed but not stored", "key", t.Key, "err", err)
	}
	if h.announce != nil {
		if err := h.announce.Announce(ctx, t.Fragment, t.Key, e.Created, ev.At); err != nil {
			h.log.Warn("events: announce failed", "key", t.Key, "err", err)
		}
	} else {
		h.Visible(t.Fragment, t.Key, e.Created, ev.At)
	}
	h.mu.Lock()
	h.last[t.Fragment] = LastEvent{Event: ev, Key: t.Key, When: time.Now(), Visible: time.Since(ev.At)}
	h.mu.Unlock()
}

// Visible is how an instance learns that key has a new entry made at made,
// for an event published at at: it drops its older in-process copy and
// records the event's freshness.
func (h *Handler) Visible(fragment, key string, made, at time.Time) {
	h.c.DropKey(key, made)
	if at.IsZero() {
		return
	}
	d := time.Since(at)
	if h.OnVisible != nil {
		h.OnVisible(fragment, d)
	}
	h.mu.Lock()
	if l, ok := h.last[fragment]; ok && l.Key == key {
		l.Visible = d
		h.last[fragment] = l
	}
	h.mu.Unlock()
}

// LocalBus delivers events to one instance's Handler: events without Redis.
type LocalBus struct{ H *Handler }

// Publish hands ev to the Handler at once.
func (b LocalBus) Publish(_ context.Context, ev Event) (string, error) {
	if err := ev.Validate(); err != nil {
		return "", err
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	b.H.Handle(ev, nil)
	return "", nil
}
