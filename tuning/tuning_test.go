package tuning_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/tuning"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func base() *composer.Site {
	return &composer.Site{Fragments: map[string]*composer.Fragment{
		"a": {Spec: &composer.Spec{Name: "a"}, Settings: composer.Settings{Timeout: time.Second, Fallback: "fb"},
			Origin: map[string]string{"timeout": "site.yaml"}},
		"b": {Spec: &composer.Spec{Name: "b"}, Settings: composer.Settings{Timeout: time.Second}},
	}}
}

func ptr[T any](v T) *T { return &v }

func TestApply(t *testing.T) {
	b := base()
	if got := tuning.Apply(b, nil); got != b {
		t.Errorf("no override: Apply made a new Site")
	}
	d := tuning.Duration(20 * time.Millisecond)
	got := tuning.Apply(b, map[string]tuning.Override{
		"a":    {Timeout: &d, Disabled: ptr(true)},
		"nope": {Timeout: &d},
		"b":    {Timeout: ptr(tuning.Duration(-1))}, // invalid: ignored
	})
	a := got.Fragments["a"]
	if a.Settings.Timeout != 20*time.Millisecond || !a.Settings.Disabled || a.Settings.Fallback != "fb" {
		t.Errorf("a: %+v", a.Settings)
	}
	if a.Origin["timeout"] != "live" || a.Origin["disabled"] != "live" || a.Origin["fallback"] != "" {
		t.Errorf("a's origins: %v", a.Origin)
	}
	if got.Fragments["b"] != b.Fragments["b"] || got.Fragments["nope"] != nil {
		t.Errorf("untouched fragments were copied or unknown ones added")
	}
	// The base is unchanged.
	if ba := b.Fragments["a"]; ba.Settings.Timeout != time.Second || ba.Settings.Disabled || ba.Origin["timeout"] != "site.yaml" {
		t.Errorf("Apply modified the base: %+v %v", ba.Settings, ba.Origin)
	}
}

func TestOverrideJSON(t *testing.T) {
	d := tuning.Duration(150 * time.Millisecond)
	in := tuning.Override{Timeout: &d, Fallback: ptr("<p>x</p>"), Primary: ptr(false)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"timeout":"150ms","fallback":"\u003cp\u003ex\u003c/p\u003e","primary":false}` {
		t.Errorf("JSON %s", b)
	}
	var out tuning.Override
	if err := json.Unmarshal(b, &out); err != nil || *out.Timeout != d || *out.Fallback != "<p>x</p>" || *out.Primary {
		t.Errorf("round trip: %+v %v", out, err)
	}
}

// siteHolder records what a Manager puts in force.
type siteHolder struct {
	mu   sync.Mutex
	site *composer.Site
}

func (h *siteHolder) set(s *composer.Site) { h.mu.Lock(); h.site = s; h.mu.Unlock() }
func (h *siteHolder) get() *composer.Site  { h.mu.Lock(); defer h.mu.Unlock(); return h.site }

func TestManagerMemory(t *testing.T) {
	var h siteHolder
	m := tuning.NewManager(base(), &tuning.Memory{}, h.set, slog.New(slog.DiscardHandler))
	stop := m.Start(context.Background())
	defer stop()
	ctx := context.Background()
	want := base().Fragments["a"].Settings
	want.Timeout = 50 * time.Millisecond
	changes, err := m.Update(ctx, "bob", "a", want)
	if err != nil || len(changes) != 1 || changes[0].Old != "1s" || changes[0].New != "50ms" || changes[0].Who != "bob" {
		t.Fatalf("Update: %+v %v", changes, err)
	}
	if f := h.get().Fragments["a"]; f.Settings.Timeout != 50*time.Millisecond || f.Origin["timeout"] != "live" {
		t.Errorf("in force: %+v %v", f.Settings, f.Origin)
	}
	// A reload of site.yaml keeps the override on top of the new base.
	nb := base()
	nb.Fragments["a"].Settings.Fallback = "new"
	m.SetBase(nb)
	if f := h.get().Fragments["a"]; f.Settings.Timeout != 50*time.Millisecond || f.Settings.Fallback != "new" {
		t.Errorf("after reload: %+v", f.Settings)
	}
	if _, err := m.Reset(ctx, "bob", "a"); err != nil {
		t.Fatal(err)
	}
	if f := h.get().Fragments["a"]; f.Settings.Timeout != time.Second || f.Origin["timeout"] != "site.yaml" {
		t.Errorf("after reset: %+v %v", f.Settings, f.Origin)
	}
	if _, err := m.Update(ctx, "bob", "nope", want); err == nil {
		t.Errorf("Update of an unknown fragment succeeded")
	}
	bad := want
	bad.Timeout = 0
	if _, err := m.Update(ctx, "bob", "a", bad); err == nil {
		t.Errorf("Update with a zero timeout succeeded")
	}
	if log := m.Changes(ctx); len(log) != 2 || log[0].New != "1s" {
		t.Errorf("change log %+v", log)
	}
}

// TestRedisWatch: a Put through one Redis store reaches a watcher on
// another client within a second, and the log is shared.
func TestRedisWatch(t *testing.T) {
	rs := redistest.Start(t)
	log := slog.New(slog.DiscardHandler)
	c1, _ := redisstore.NewClient("redis://" + rs.Addr())
	c2, _ := redisstore.NewClient("redis://" + rs.Addr())
	defer c1.Close()
	defer c2.Close()
	s1, s2 := tuning.NewRedis(c1, log), tuning.NewRedis(c2, log)
	got := make(chan map[string]tuning.Override, 16)
	stop := s2.Watch(context.Background(), func(ov map[string]tuning.Override) { got <- ov })
	defer stop()
	next := func() map[string]tuning.Override {
		select {
		case ov := <-got:
			return ov
		case <-time.After(time.Second):
			t.Fatal("no overrides within a second")
			return nil
		}
	}
	if ov := next(); len(ov) != 0 { // on subscribe
		t.Fatalf("initial overrides %v", ov)
	}
	d := tuning.Duration(30 * time.Millisecond)
	ctx := context.Background()
	if err := s1.Put(ctx, "a", tuning.Override{Timeout: &d}); err != nil {
		t.Fatal(err)
	}
	if ov := next(); ov["a"].Timeout == nil || *ov["a"].Timeout != d {
		t.Fatalf("after Put: %v", ov)
	}
	if err := s1.Put(ctx, "a", tuning.Override{}); err != nil {
		t.Fatal(err)
	}
	if ov := next(); len(ov) != 0 {
		t.Fatalf("after delete: %v", ov)
	}
	for i := range tuning.MaxChanges + 5 {
		if err := s1.Record(ctx, tuning.Change{Fragment: "a", Field: "timeout", New: time.Duration(i).String()}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s2.Changes(ctx)
	if err != nil || len(cs) != tuning.MaxChanges || cs[0].New != time.Duration(tuning.MaxChanges+4).String() {
		t.Errorf("shared log: %d entries, first %+v, %v", len(cs), cs[0], err)
	}
}
