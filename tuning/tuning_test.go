package tuning_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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

// TestApplyNormalizesFallback: a fallback set live is normalized like one
// set in site.yaml, so that it cannot break the pages it is placed in.
func TestApplyNormalizesFallback(t *testing.T) {
	got := tuning.Apply(base(), map[string]tuning.Override{"a": {Fallback: ptr(`<ul><li>one</section>`)}})
	if fb := got.Fragments["a"].Settings.Fallback; fb != `<ul><li>one</li></ul>` {
		t.Fatalf("fallback = %q", fb)
	}
}

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

// TestFailHold: a live fail_hold of 0 turns the hold off, as 0s does in
// site.yaml, and every function shows and compares the effective hold.
func TestFailHold(t *testing.T) {
	const off = -1 // composer.Settings.FailHold when the hold is off
	for _, tc := range []struct {
		name     string
		base     time.Duration // base Settings.FailHold
		live     time.Duration // the operator's value
		settings time.Duration // Settings.FailHold once applied
		value    string        // Value once applied
		baseVal  string        // Value of the base
	}{
		{"default (off) to 3s", 0, 3 * time.Second, 3 * time.Second, "3s", "0s"},
		{"2s to off", 2 * time.Second, 0, off, "0s", "2s"},
		{"off to 250ms", off, 250 * time.Millisecond, 250 * time.Millisecond, "250ms", "0s"},
		{"2s to the max", 2 * time.Second, composer.MaxFailHold, composer.MaxFailHold, "5m0s", "2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base()
			b.Fragments["a"].Settings.FailHold = tc.base
			bs := b.Fragments["a"].Settings
			if got := tuning.Value(bs, "fail_hold"); got != tc.baseVal {
				t.Errorf("Value(base) = %q, want %q", got, tc.baseVal)
			}
			o := tuning.Override{FailHold: ptr(tuning.Duration(tc.live))}
			if err := o.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			f := tuning.Apply(b, map[string]tuning.Override{"a": o}).Fragments["a"]
			if f.Settings.FailHold != tc.settings || f.Origin["fail_hold"] != "live" {
				t.Errorf("applied: FailHold %v origin %q, want %v live", f.Settings.FailHold, f.Origin["fail_hold"], tc.settings)
			}
			if got := tuning.Value(f.Settings, "fail_hold"); got != tc.value {
				t.Errorf("Value(applied) = %q, want %q", got, tc.value)
			}
			// Diff gives back the operator's value, and nothing else.
			d := tuning.Diff(bs, f.Settings)
			if d.FailHold == nil || time.Duration(*d.FailHold) != tc.live {
				t.Errorf("Diff = %+v, want fail_hold %v", d, tc.live)
			}
			d.FailHold = nil
			if !d.IsZero() {
				t.Errorf("Diff set other fields: %+v", d)
			}
		})
	}
	// An unset hold, DefaultFailHold and off are the same hold: no override.
	unset := composer.Settings{Timeout: time.Second}
	dflt := unset
	dflt.FailHold = composer.DefaultFailHold
	if d := tuning.Diff(unset, dflt); !d.IsZero() {
		t.Errorf("Diff(unset, default) = %+v, want nothing", d)
	}
	// Every negative Settings.FailHold is off.
	offA, offB := unset, unset
	offA.FailHold, offB.FailHold = -1, -time.Second
	if d := tuning.Diff(offA, offB); !d.IsZero() {
		t.Errorf("Diff(off, off) = %+v, want nothing", d)
	}
	if got := composer.FailHoldSetting(0); got >= 0 {
		t.Errorf("FailHoldSetting(0) = %v, want negative (off)", got)
	}
	if (tuning.Override{FailHold: ptr(tuning.Duration(0))}).IsZero() {
		t.Errorf("an override of fail_hold alone is zero")
	}
}

func TestValidate(t *testing.T) {
	d := func(v time.Duration) *tuning.Duration { return ptr(tuning.Duration(v)) }
	for _, tc := range []struct {
		o    tuning.Override
		want string // "" for valid
	}{
		{tuning.Override{}, ""},
		{tuning.Override{Timeout: d(time.Millisecond), Fresh: d(0), Stale: d(0), FailHold: d(0)}, ""},
		{tuning.Override{FailHold: d(composer.MaxFailHold)}, ""},
		{tuning.Override{Timeout: d(0)}, "timeout must be positive"},
		{tuning.Override{Fresh: d(-1)}, "fresh must not be negative"},
		{tuning.Override{Stale: d(-1)}, "stale must not be negative"},
		{tuning.Override{FailHold: d(-time.Second)}, "fail_hold must not be negative"},
		{tuning.Override{FailHold: d(composer.MaxFailHold + time.Millisecond)}, "fail_hold must be at most 5m0s"},
	} {
		err := tc.o.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.o, err)
		case tc.want != "" && (!errors.Is(err, tuning.ErrInvalid) || !strings.Contains(fmt.Sprint(err), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
	// Apply ignores an invalid hold rather than putting it in force.
	b := base()
	if got := tuning.Apply(b, map[string]tuning.Override{"a": {FailHold: d(time.Hour)}}); got != b {
		t.Errorf("Apply put an hour's hold in force: %+v", got.Fragments["a"].Settings)
	}
}

// TestOverrideJSONFailHold: fail_hold encodes as a duration, 0 included (it
// means off, not unset), and an override stored before the field existed
// still decodes and leaves the hold alone.
func TestOverrideJSONFailHold(t *testing.T) {
	b, err := json.Marshal(tuning.Override{FailHold: ptr(tuning.Duration(0))})
	if err != nil || string(b) != `{"fail_hold":"0s"}` {
		t.Fatalf("JSON %s %v", b, err)
	}
	var out tuning.Override
	if err := json.Unmarshal(b, &out); err != nil || out.FailHold == nil || *out.FailHold != 0 {
		t.Errorf("round trip: %+v %v", out, err)
	}
	var old tuning.Override
	if err := json.Unmarshal([]byte(`{"timeout":"150ms","primary":true}`), &old); err != nil || old.FailHold != nil || old.Timeout == nil {
		t.Fatalf("old override: %+v %v", old, err)
	}
	bs := base()
	bs.Fragments["a"].Settings.FailHold = 2 * time.Second
	f := tuning.Apply(bs, map[string]tuning.Override{"a": old}).Fragments["a"]
	if f.Settings.FailHold != 2*time.Second || f.Origin["fail_hold"] != "" {
		t.Errorf("old override changed the hold: %v %v", f.Settings.FailHold, f.Origin)
	}
}

// TestManagerFailHold turns a fragment's hold on and back off (the
// default) through Update, as the admin form does, and checks the change
// log.
func TestManagerFailHold(t *testing.T) {
	var h siteHolder
	m := tuning.NewManager(base(), &tuning.Memory{}, h.set, slog.New(slog.DiscardHandler))
	stop := m.Start(context.Background())
	defer stop()
	ctx := context.Background()
	want := base().Fragments["a"].Settings
	want.FailHold = composer.FailHoldSetting(2 * time.Second)
	changes, err := m.Update(ctx, "bob", "a", want)
	if err != nil || len(changes) != 1 || changes[0].Field != "fail_hold" || changes[0].Old != "0s" || changes[0].New != "2s" {
		t.Fatalf("Update to 2s: %+v %v", changes, err)
	}
	if f := h.get().Fragments["a"]; f.Settings.FailHold != 2*time.Second || f.Origin["fail_hold"] != "live" {
		t.Errorf("in force: FailHold %v, origins %v", f.Settings.FailHold, f.Origin)
	}
	// Back to the default's value (off): nothing is overridden any more.
	want.FailHold = composer.FailHoldSetting(0)
	changes, err = m.Update(ctx, "bob", "a", want)
	if err != nil || len(changes) != 1 || changes[0].Old != "2s" || changes[0].New != "0s" {
		t.Fatalf("Update back: %+v %v", changes, err)
	}
	if ov := m.Overrides(); len(ov) != 0 {
		t.Errorf("overrides left: %+v", ov)
	}
	want.FailHold = time.Hour
	if _, err := m.Update(ctx, "bob", "a", want); !errors.Is(err, tuning.ErrInvalid) {
		t.Errorf("Update to an hour: %v, want ErrInvalid", err)
	}
}

// TestRedisFailHold: a hold of 0 survives Redis, and an override written
// before fail_hold existed still loads.
func TestRedisFailHold(t *testing.T) {
	rs := redistest.Start(t)
	c, _ := redisstore.NewClient("redis://" + rs.Addr())
	defer c.Close()
	s := tuning.NewRedis(c, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if err := s.Put(ctx, "a", tuning.Override{FailHold: ptr(tuning.Duration(0))}); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, tuning.OverridesKey, "b", `{"timeout":"30ms","disabled":true}`).Err(); err != nil {
		t.Fatal(err)
	}
	ov, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := ov["a"]; a.FailHold == nil || *a.FailHold != 0 {
		t.Errorf("a: %+v", a)
	}
	if b := ov["b"]; b.FailHold != nil || b.Timeout == nil || time.Duration(*b.Timeout) != 30*time.Millisecond {
		t.Errorf("old override b: %+v", b)
	}
}

// TestRedisOverridesAreUntrusted: overrides written into Redis by anyone
// who can reach it, against a real redis-server. Without keys, one cannot
// disable a primary fragment (its pages would be 503s) though it can
// disable another, nor plant an active fallback; with keys, only the
// overrides the admin path signed apply, a primary's kill switch included.
func TestRedisOverridesAreUntrusted(t *testing.T) {
	rs := redistest.Start(t)
	c, _ := redisstore.NewClient("redis://" + rs.Addr())
	defer c.Close()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	site := base()
	site.Fragments["a"].Settings.Primary = true
	site.Pages = []*composer.Page{{Name: "p", Includes: []*composer.PageInclude{{Fragment: "b", Primary: true}}}}
	site.Fragments["c"] = &composer.Fragment{Spec: &composer.Spec{Name: "c"}, Settings: composer.Settings{Timeout: time.Second}}
	plant := func(fragment, v string) {
		t.Helper()
		if err := c.HSet(ctx, tuning.OverridesKey, fragment, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	load := func(s *tuning.Redis) *composer.Site {
		t.Helper()
		ov, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tuning.Apply(site, ov)
	}

	plain := tuning.NewRedis(c, log)
	plant("a", `{"disabled":true}`)
	plant("b", `{"disabled":true,"primary":false}`)
	plant("c", `{"disabled":true}`)
	got := load(plain)
	if got.Fragments["a"].Settings.Disabled || got.Fragments["b"].Settings.Disabled {
		t.Errorf("an unsigned override disabled a primary fragment: a %v, b %v", got.Fragments["a"].Settings.Disabled, got.Fragments["b"].Settings.Disabled)
	}
	if !got.Fragments["c"].Settings.Disabled {
		t.Errorf("a fragment that is not primary is still disabled live")
	}
	for _, fb := range []string{`<script>alert(1)</script>`, `<img src=x onerror="alert(1)">`, `<a href=" javascript:alert(1)">x</a>`,
		`<bs-include fragment="c"></bs-include>`, `<IFRAME src="//evil">`} {
		b, _ := json.Marshal(tuning.Override{Fallback: &fb})
		plant("c", string(b))
		if got := load(plain); got.Fragments["c"].Settings.Fallback == fb {
			t.Errorf("fallback %q applied", fb)
		}
	}
	plant("c", `{"fallback":"<li class=\"bs-fallback\">–</li>"}`)
	if got := load(plain); got.Fragments["c"].Settings.Fallback != `<li class="bs-fallback">–</li>` {
		t.Errorf("a plain fallback was refused: %q", got.Fragments["c"].Settings.Fallback)
	}

	keys, err := redisstore.ParseKeys("0123456789abcdef-overrides")
	if err != nil {
		t.Fatal(err)
	}
	signed := tuning.NewRedis(c, log).Signed(keys)
	if got := load(signed); got.Fragments["c"].Settings.Fallback != "" || got.Fragments["a"].Settings.Disabled {
		t.Errorf("with keys, unsigned overrides applied: %+v", got.Fragments["c"].Settings)
	}
	if err := signed.Put(ctx, "a", tuning.Override{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if got := load(signed); !got.Fragments["a"].Settings.Disabled {
		t.Errorf("a signed override could not disable a primary fragment")
	}
	// A signed override moved to another fragment does not verify.
	v, _ := c.HGet(ctx, tuning.OverridesKey, "a").Result()
	plant("c", v)
	if got := load(signed); got.Fragments["c"].Settings.Disabled {
		t.Errorf("an override signed for a applied to c")
	}
}

// TestManagerRefusesToDisableAPrimaryUnsigned: the admin page cannot
// disable a primary fragment through a Redis that does not sign overrides
// (no instance would apply it); it says why.
func TestManagerRefusesToDisableAPrimaryUnsigned(t *testing.T) {
	rs := redistest.Start(t)
	c, _ := redisstore.NewClient("redis://" + rs.Addr())
	defer c.Close()
	site := base()
	site.Fragments["a"].Settings.Primary = true
	m := tuning.NewManager(site, tuning.NewRedis(c, slog.New(slog.DiscardHandler)), func(*composer.Site) {}, nil)
	want := site.Fragments["a"].Settings
	want.Disabled = true
	if _, err := m.Update(context.Background(), "t", "a", want); !errors.Is(err, tuning.ErrInvalid) {
		t.Fatalf("Update: %v, want ErrInvalid", err)
	}
	mem := tuning.NewManager(site, &tuning.Memory{}, func(*composer.Site) {}, nil)
	if _, err := mem.Update(context.Background(), "t", "a", want); err != nil {
		t.Fatalf("in-process store: %v", err)
	}
}
