// Package tuning holds live overrides of fragment settings: what an operator
// changes from the admin page on top of site.yaml, shared by every composer
// instance.
//
// The lifecycle:
//
//  1. cmd/ makes a Store (Redis when the composer has one, else in memory)
//     and a Manager over the base Site (site.yaml) and a function that puts
//     a Site in force (web.Server.Reload).
//  2. Manager.Start subscribes to the Store: every change, made on this
//     instance or another, re-reads all overrides and puts
//     Apply(base, overrides) in force.
//  3. Manager.SetBase is called on every configuration reload; the
//     overrides are applied again on top of the new base.
//  4. Manager.Update and Manager.Reset, called by the admin page, write to
//     the Store and log each change (who, fragment, field, old → new).
package tuning

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// OriginLive is the origin of a setting overridden live.
const OriginLive = "live"

// Duration is a time.Duration that encodes as its string ("150ms").
type Duration time.Duration

// MarshalJSON encodes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON decodes a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Override is the live override of one fragment's settings. A nil field
// leaves the setting as site.yaml (or code) has it.
type Override struct {
	Timeout *Duration `json:"timeout,omitempty"`
	Fresh   *Duration `json:"fresh,omitempty"`
	Stale   *Duration `json:"stale,omitempty"`
	// FailHold is the hold itself, as site.yaml's fail_hold says it: 0
	// turns the hold off (composer.Settings.FailHold < 0), it is never
	// "the default".
	FailHold *Duration `json:"fail_hold,omitempty"`
	Fallback *string   `json:"fallback,omitempty"`
	Primary  *bool     `json:"primary,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`

	// verified is set for an override known to come from the admin path:
	// this instance's own, one from an in-process Store, or one a
	// signing Store verified (see Redis.Signed). Apply refuses to
	// disable a primary fragment without it.
	verified bool
}

// IsZero reports whether o overrides nothing.
func (o Override) IsZero() bool {
	return o.Timeout == nil && o.Fresh == nil && o.Stale == nil && o.FailHold == nil &&
		o.Fallback == nil && o.Primary == nil && o.Disabled == nil
}

// ErrInvalid is wrapped by the errors of Validate.
var ErrInvalid = errors.New("tuning: invalid override")

// Validate reports an override no fragment may have: a timeout that is not
// positive, a negative TTL, a fail_hold that is negative or above
// composer.MaxFailHold, a fallback that is not fragment HTML (see
// checkFallback).
func (o Override) Validate() error {
	if o.Fallback != nil {
		if err := checkFallback(*o.Fallback); err != nil {
			return fmt.Errorf("%w: fallback: %w", ErrInvalid, err)
		}
	}
	if o.Timeout != nil && *o.Timeout <= 0 {
		return fmt.Errorf("%w: timeout must be positive, got %s", ErrInvalid, time.Duration(*o.Timeout))
	}
	if o.Fresh != nil && *o.Fresh < 0 {
		return fmt.Errorf("%w: fresh must not be negative, got %s", ErrInvalid, time.Duration(*o.Fresh))
	}
	if o.Stale != nil && *o.Stale < 0 {
		return fmt.Errorf("%w: stale must not be negative, got %s", ErrInvalid, time.Duration(*o.Stale))
	}
	if o.FailHold != nil && *o.FailHold < 0 {
		return fmt.Errorf("%w: fail_hold must not be negative (0s turns it off), got %s", ErrInvalid, time.Duration(*o.FailHold))
	}
	if o.FailHold != nil && time.Duration(*o.FailHold) > composer.MaxFailHold {
		return fmt.Errorf("%w: fail_hold must be at most %s, got %s", ErrInvalid, composer.MaxFailHold, time.Duration(*o.FailHold))
	}
	return nil
}

// Fields are the names of the settings an Override can change, as they
// appear in Fragment.Origin and in the change log.
var Fields = []string{"timeout", "fresh", "stale", "fail_hold", "fallback", "primary", "disabled"}

// Apply returns a new Site: base with ov applied. base is not modified
// (Sites are immutable once in use): the Fragments map is copied, and so is
// every Fragment an override changes, with Origin[field] = "live" for each
// overridden field. Overrides of fragments base does not have, and invalid
// overrides, are ignored, and so is the kill switch of a primary fragment
// (RefusedDisable) from an override not known to come from the admin
// path. With no override in effect it returns base itself.
func Apply(base *composer.Site, ov map[string]Override) *composer.Site {
	if base == nil {
		return nil
	}
	var frags map[string]*composer.Fragment
	for name, o := range ov {
		f := base.Fragments[name]
		if f == nil || o.IsZero() || o.Validate() != nil {
			continue
		}
		if frags == nil {
			frags = maps.Clone(base.Fragments)
		}
		nf := *f
		nf.Origin = maps.Clone(f.Origin)
		if nf.Origin == nil {
			nf.Origin = map[string]string{}
		}
		set := func(field string) { nf.Origin[field] = OriginLive }
		if o.Timeout != nil {
			nf.Settings.Timeout = time.Duration(*o.Timeout)
			set("timeout")
		}
		if o.Fresh != nil {
			nf.Settings.Fresh = time.Duration(*o.Fresh)
			set("fresh")
		}
		if o.Stale != nil {
			nf.Settings.Stale = time.Duration(*o.Stale)
			set("stale")
		}
		if o.FailHold != nil {
			nf.Settings.FailHold = composer.FailHoldSetting(time.Duration(*o.FailHold))
			set("fail_hold")
		}
		if o.Fallback != nil {
			nf.Settings.Fallback = composer.NormalizeHTML(*o.Fallback)
			set("fallback")
		}
		if o.Primary != nil {
			nf.Settings.Primary = *o.Primary
			set("primary")
		}
		if o.Disabled != nil && !RefusedDisable(base, name, o) {
			nf.Settings.Disabled = *o.Disabled
			set("disabled")
		}
		frags[name] = &nf
	}
	if frags == nil {
		return base
	}
	site := *base
	site.Fragments = frags
	return &site
}

// Value returns the named setting of s formatted for the change log and
// forms: durations as strings, booleans as "true"/"false". fail_hold is
// the effective hold: "0s" when off, DefaultFailHold's when s leaves it
// unset.
func Value(s composer.Settings, field string) string {
	switch field {
	case "timeout":
		return s.Timeout.String()
	case "fresh":
		return s.Fresh.String()
	case "stale":
		return s.Stale.String()
	case "fail_hold":
		return s.EffectiveFailHold().String()
	case "fallback":
		return s.Fallback
	case "primary":
		return strconv.FormatBool(s.Primary)
	case "disabled":
		return strconv.FormatBool(s.Disabled)
	}
	return ""
}

// Diff returns the override that turns base's settings into want: a field
// is set only where want differs from base. fail_hold is compared by its
// effective hold (an unset one and 1s are the same) and set as such, 0
// when want turns it off.
func Diff(base, want composer.Settings) Override {
	var o Override
	if want.Timeout != base.Timeout {
		o.Timeout = ptr(Duration(want.Timeout))
	}
	if want.Fresh != base.Fresh {
		o.Fresh = ptr(Duration(want.Fresh))
	}
	if want.Stale != base.Stale {
		o.Stale = ptr(Duration(want.Stale))
	}
	if h := want.EffectiveFailHold(); h != base.EffectiveFailHold() {
		o.FailHold = ptr(Duration(h))
	}
	if want.Fallback != base.Fallback {
		o.Fallback = ptr(want.Fallback)
	}
	if want.Primary != base.Primary {
		o.Primary = ptr(want.Primary)
	}
	if want.Disabled != base.Disabled {
		o.Disabled = ptr(want.Disabled)
	}
	return o
}

func ptr[T any](v T) *T { return &v }

// RefusedDisable reports whether Apply refuses o's kill switch on
// fragment name: o turns it on, name is primary in base (by its settings
// or on a page), and o is not known to come from the admin path. A
// primary that is disabled fails its pages (503): an override written
// into Redis by anyone who can reach it must not do that. An operator
// disables a primary from the admin page, on a deployment whose Redis
// overrides are signed (BROADSHEET_STORE_KEY), or in site.yaml.
func RefusedDisable(base *composer.Site, name string, o Override) bool {
	if o.verified || o.Disabled == nil || !*o.Disabled {
		return false
	}
	if f := base.Fragments[name]; f != nil && f.Settings.Primary {
		return true
	}
	for _, p := range base.Pages {
		for _, inc := range p.Includes {
			if inc.Fragment == name && inc.Primary {
				return true
			}
		}
	}
	return false
}

// Change is one entry of the change log.
type Change struct {
	At       time.Time `json:"at"`
	Who      string    `json:"who"`
	Fragment string    `json:"fragment"`
	// Field is a setting name (see Fields), or "purge" or "reset".
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}
