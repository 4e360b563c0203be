package tuning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// ErrUnknownFragment is returned by Update and Reset for a fragment the
// base Site does not have.
var ErrUnknownFragment = errors.New("tuning: unknown fragment")

// Manager keeps the base Site (site.yaml) and the live overrides, and puts
// Apply(base, overrides) in force whenever either changes. It is safe for
// concurrent use.
type Manager struct {
	store Store
	apply func(*composer.Site)
	log   *slog.Logger
	now   func() time.Time

	mu   sync.Mutex // held while a Site is computed and put in force
	base *composer.Site
	ov   map[string]Override
	// local is this instance's own change log, kept when the Store's
	// cannot be read.
	local []Change
}

// NewManager returns a Manager for base, which puts Sites in force with
// apply (web.Server.Reload). apply is called with the Manager's lock held,
// one call at a time; it must not call back into the Manager. Nothing is
// applied until Start.
func NewManager(base *composer.Site, store Store, apply func(*composer.Site), log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	return &Manager{store: store, apply: apply, log: log, now: time.Now, base: base}
}

// Start watches the Store and applies its overrides now and on every change,
// until stop is called (stop waits for the watch to end).
func (m *Manager) Start(ctx context.Context) (stop func()) {
	return m.store.Watch(ctx, m.setOverrides)
}

func (m *Manager) setOverrides(ov map[string]Override) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, o := range ov {
		if RefusedDisable(m.base, name, o) {
			m.log.Warn("tuning: refusing to disable a primary fragment by an override not from the admin path (sign overrides with BROADSHEET_STORE_KEY)", "fragment", name)
		}
	}
	m.ov = ov
	m.apply(Apply(m.base, ov))
}

// SetBase makes site the base the overrides apply to (after a reload of
// site.yaml) and puts the result in force.
func (m *Manager) SetBase(site *composer.Site) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.base = site
	m.apply(Apply(site, m.ov))
}

// Base returns the base Site (site.yaml, without live overrides).
func (m *Manager) Base() *composer.Site {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.base
}

// Overrides returns a copy of the overrides in force on this instance.
func (m *Manager) Overrides() map[string]Override {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.ov)
}

// Update makes want the effective settings of fragment, as a live override
// of what the base Site says (fields equal to the base are not
// overridden), stores it for every instance, applies it here at once, and
// logs and records each field that changed. It returns the changes.
func (m *Manager) Update(ctx context.Context, who, fragment string, want composer.Settings) ([]Change, error) {
	m.mu.Lock()
	f := m.base.Fragments[fragment]
	var cur composer.Settings
	if f != nil {
		cur = Apply(m.base, m.ov).Fragments[fragment].Settings
	}
	m.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownFragment, fragment)
	}
	o := Diff(f.Settings, want)
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.verified = storeVerifies(m.store)
	if RefusedDisable(m.base, fragment, o) {
		return nil, fmt.Errorf("%w: %s is primary: it can be disabled live only where overrides are signed (BROADSHEET_STORE_KEY)", ErrInvalid, fragment)
	}
	return m.put(ctx, who, fragment, o, cur, want)
}

// Reset removes fragment's override: its settings return to the base
// Site's.
func (m *Manager) Reset(ctx context.Context, who, fragment string) ([]Change, error) {
	m.mu.Lock()
	f := m.base.Fragments[fragment]
	var cur composer.Settings
	if f != nil {
		cur = Apply(m.base, m.ov).Fragments[fragment].Settings
	}
	m.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownFragment, fragment)
	}
	return m.put(ctx, who, fragment, Override{}, cur, f.Settings)
}

func (m *Manager) put(ctx context.Context, who, fragment string, o Override, cur, want composer.Settings) ([]Change, error) {
	if err := m.store.Put(ctx, fragment, o); err != nil {
		return nil, err
	}
	// Applied here as the Store will bring it back to every instance.
	o.verified = storeVerifies(m.store)
	// Apply here at once; the watch will bring the same state (and any
	// other instance's changes) shortly.
	m.mu.Lock()
	ov := maps.Clone(m.ov)
	if ov == nil {
		ov = map[string]Override{}
	}
	if o.IsZero() {
		delete(ov, fragment)
	} else {
		ov[fragment] = o
	}
	m.ov = ov
	m.apply(Apply(m.base, ov))
	m.mu.Unlock()

	now := m.now()
	var changes []Change
	for _, field := range Fields {
		old, nw := Value(cur, field), Value(want, field)
		if old != nw {
			changes = append(changes, Change{At: now, Who: who, Fragment: fragment, Field: field, Old: old, New: nw})
		}
	}
	if o.IsZero() && len(changes) == 0 {
		changes = append(changes, Change{At: now, Who: who, Fragment: fragment, Field: "reset", Old: "", New: "site.yaml"})
	}
	m.Record(ctx, changes...)
	return changes, nil
}

// storeVerifies reports whether the overrides s loads are known to come
// from the admin path: an in-process Store's are, a Redis one's when it
// signs them (Redis.Signed).
func storeVerifies(s Store) bool {
	v, ok := s.(interface{ Verifies() bool })
	return !ok || v.Verifies()
}

// Record logs changes (one slog line each) and appends them to the change
// log. A failure to store them is logged, not returned: the change itself
// has been made.
func (m *Manager) Record(ctx context.Context, changes ...Change) {
	for _, c := range changes {
		m.log.Info("tuning: change", "who", c.Who, "fragment", c.Fragment, "field", c.Field, "old", c.Old, "new", c.New)
	}
	m.mu.Lock()
	for _, c := range changes {
		m.local = append([]Change{c}, m.local...)
	}
	if len(m.local) > MaxChanges {
		m.local = m.local[:MaxChanges]
	}
	m.mu.Unlock()
	if err := m.store.Record(ctx, changes...); err != nil {
		m.log.Warn("tuning: could not record changes", "err", err)
	}
}

// Changes returns the change log, newest first: the Store's (every
// instance's changes) when it can be read, else this instance's own.
func (m *Manager) Changes(ctx context.Context) []Change {
	if cs, err := m.store.Changes(ctx); err == nil {
		return cs
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Change(nil), m.local...)
}
