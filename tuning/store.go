package tuning

import (
	"context"
	"maps"
	"sync"
)

// MaxChanges is how many changes the change log keeps.
const MaxChanges = 100

// Store keeps the overrides of every fragment and tells every instance
// sharing it when they change. Implementations are safe for concurrent use.
type Store interface {
	// Load returns every fragment's override.
	Load(ctx context.Context) (map[string]Override, error)
	// Put replaces the override of fragment (a zero Override removes it)
	// and tells every watcher.
	Put(ctx context.Context, fragment string, o Override) error
	// Watch calls fn with all overrides each time they may have changed,
	// and once when the watch starts (and, for a shared store, each time
	// it is re-established: changes made meanwhile were missed). Calls are
	// made one at a time, never after stop returns.
	Watch(ctx context.Context, fn func(map[string]Override)) (stop func())
	// Record appends changes to the change log, which keeps the last
	// MaxChanges.
	Record(ctx context.Context, changes ...Change) error
	// Changes returns the change log, newest first.
	Changes(ctx context.Context) ([]Change, error)
}

// Memory is a Store for one instance. Its zero value is ready.
type Memory struct {
	mu       sync.Mutex
	ov       map[string]Override
	log      []Change // newest first
	watchers map[int]func(map[string]Override)
	next     int
	// notify serialises calls to the watchers.
	notify sync.Mutex
}

var _ Store = (*Memory)(nil)

// Load returns a copy of the overrides, every one from the admin path
// (nothing else writes to an in-process Store).
func (m *Memory) Load(context.Context) (map[string]Override, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ov := maps.Clone(m.ov)
	for name, o := range ov {
		o.verified = true
		ov[name] = o
	}
	return ov, nil
}

// Put replaces fragment's override and calls every watcher before it
// returns.
func (m *Memory) Put(_ context.Context, fragment string, o Override) error {
	m.notify.Lock()
	defer m.notify.Unlock()
	m.mu.Lock()
	if m.ov == nil {
		m.ov = map[string]Override{}
	}
	if o.IsZero() {
		delete(m.ov, fragment)
	} else {
		m.ov[fragment] = o
	}
	ws := make([]func(map[string]Override), 0, len(m.watchers))
	for _, w := range m.watchers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	for _, w := range ws {
		ov, _ := m.Load(context.Background())
		w(ov)
	}
	return nil
}

// Watch calls fn with the current overrides at once, then after every Put.
func (m *Memory) Watch(_ context.Context, fn func(map[string]Override)) (stop func()) {
	m.notify.Lock()
	m.mu.Lock()
	if m.watchers == nil {
		m.watchers = map[int]func(map[string]Override){}
	}
	id := m.next
	m.next++
	m.watchers[id] = fn
	ov := maps.Clone(m.ov)
	m.mu.Unlock()
	fn(ov)
	m.notify.Unlock()
	return func() {
		m.notify.Lock()
		defer m.notify.Unlock()
		m.mu.Lock()
		delete(m.watchers, id)
		m.mu.Unlock()
	}
}

// Record prepends changes to the log.
func (m *Memory) Record(_ context.Context, changes ...Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range changes {
		m.log = append([]Change{c}, m.log...)
	}
	if len(m.log) > MaxChanges {
		m.log = m.log[:MaxChanges]
	}
	return nil
}

// Changes returns a copy of the log, newest first.
func (m *Memory) Changes(context.Context) ([]Change, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Change(nil), m.log...), nil
}
