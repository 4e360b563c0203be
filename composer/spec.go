// Package composer is Broadsheet's engine: it plans a page's includes, looks
// them up in the cache tiers, fans out to the fragments that missed, enforces
// the page's latency budget and streams the stitched HTML in document order.
//
// The lifecycle of a fragment, from the point of view of this package:
//
//  1. A Spec is registered (by the fragments package, from init) and handed to
//     the composer by cmd/ as a sorted list.
//  2. The site configuration (see package config) binds pages to includes and
//     may override every default of a Spec; the result is a *Site.
//  3. For each request, Compose resolves each include to a (fragment, params)
//     pair, keyed by the fragment name and its declared params only.
//  4. The include is served from L1, then from the shared Store, then by
//     calling Render under min(timeout, what is left of the page budget).
//  5. Whatever happens, the include yields an Outcome and some HTML: content,
//     a stale entry, the fallback, or an empty placeholder comment.
package composer

import (
	"context"
	"errors"
	"time"

	"github.com/a-h/templ"
)

// RenderFunc renders one include of a fragment. It must honour ctx's deadline
// and may depend on nothing but p. It is called concurrently.
type RenderFunc func(ctx context.Context, p Params) (templ.Component, error)

// ErrNotFound is returned by a fragment whose params name something that does
// not exist (an unknown city). On a primary include it makes the page a 404.
var ErrNotFound = errors.New("not found")

// ParamSpec declares one input of a fragment. Values are strings; a value that
// does not satisfy the declaration never reaches the fragment.
type ParamSpec struct {
	Name     string
	Required bool
	Default  string
	// Pattern, when set, must match the whole value (it is anchored).
	Pattern string
	// Values, when set, lists the only allowed values.
	Values []string
	// MaxLen caps the value's length in bytes; 0 means DefaultMaxParamLen.
	MaxLen int
	// Int declares a whole number from Min to Max (decimal digits, no
	// sign). Its value is canonicalised before it reaches the fragment
	// or its cache key — "041", "0041" and "41" are all "41" — so that
	// one value has one key. An Int param has no Pattern or Values. A
	// number outside Min..Max is refused, or with Clamp taken as the
	// nearest bound (a size past the end lists everything: one key).
	Int      bool
	Min, Max int
	Clamp    bool
	// Doc is a short description shown in the fragment explorer.
	Doc string
}

// DefaultMaxParamLen is the length cap of a param that declares none.
const DefaultMaxParamLen = 128

// Settings are the tunable policies of a fragment: defaults in its Spec,
// overridden by the site configuration and, later, live.
type Settings struct {
	// Timeout bounds one call of the fragment.
	Timeout time.Duration
	// Fresh is how long a result is served without refreshing it.
	Fresh time.Duration
	// Stale is how long after Fresh a result may still be served while one
	// background refresh runs (stale-while-revalidate).
	Stale time.Duration
	// Fallback is trusted HTML served when the fragment fails with nothing
	// stale to serve. Empty means an HTML comment placeholder.
	Fallback string
	// Primary includes hold the status line until they resolve; a primary
	// that fails with nothing stale to serve makes the page a 503.
	Primary bool
	// Disabled is the kill switch: serve the fallback without calling.
	Disabled bool
	// FailHold is how long a key whose call just failed (an error, a
	// panic, its timeout) is not called again, on this instance and, with
	// a Store that locks, on every instance: its includes get their stale
	// value, or their fallback, meanwhile, and a stale entry is not
	// refreshed. A primary include is the exception: with nothing stale its
	// page would be a 503 for the whole hold, so it calls again (one call
	// at a time, shared by the requests that come while it runs). It is negative
	// caching, as CDNs cache an origin's errors for a moment: without it,
	// every request arriving after a failure calls the key again, and a
	// thousand requests of a herd — or a struggling backend's traffic —
	// retry a failure a thousand times. A call refused for want of a slot
	// (MaxInFlight) or abandoned by its clients is not a failure of the
	// key and is not held. 0 means DefaultFailHold; negative turns it off.
	FailHold time.Duration
	// MaxBytes caps the HTML one call may produce: a larger output is an
	// error (logged with its size), never served or cached. 0 means the
	// site's Limits.MaxFragmentBytes. A fragment whose params can ask for
	// a large output (a scoreboard of 20,000 matches) declares what its
	// largest needs.
	MaxBytes int
}

// EffectiveMaxBytes is s's MaxBytes with the site's cap applied when it
// sets none.
func (s *Settings) EffectiveMaxBytes(lim Limits) int {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	if lim.MaxFragmentBytes > 0 {
		return lim.MaxFragmentBytes
	}
	return DefaultLimits.MaxFragmentBytes
}

// DefaultFailHold is the FailHold of a fragment that sets none: off. A
// hold is for a fragment whose backend fails for a while (it then spares
// the backend and the pages); on a fragment whose calls fail now and then
// at random it multiplies the failures: measured with one call in 100
// hanging and a 1 s hold, 57% of a 1,000-include page's scores were held
// fallbacks, against 6% timeouts and errors without (BENCHMARKS.md). So it is the
// operator's choice per fragment (fail_hold in site.yaml, or live).
const DefaultFailHold = 0

// MaxFailHold bounds a fail_hold, in site.yaml and live alike: an
// operator's typo cannot make a fragment fail fast for an hour after its
// backend has recovered.
const MaxFailHold = 5 * time.Minute

// FailHoldSetting returns the Settings.FailHold that a fail_hold of d, as
// an operator writes it (in site.yaml or live), means: 0 turns the hold
// off (-1), anything else is the hold. Its inverse is EffectiveFailHold.
func FailHoldSetting(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// EffectiveFailHold is s's FailHold with the default applied: 0 when off.
func (s *Settings) EffectiveFailHold() time.Duration {
	switch {
	case s.FailHold < 0:
		return 0
	case s.FailHold == 0:
		return DefaultFailHold
	}
	return s.FailHold
}

// Spec describes a fragment: its name, inputs, function and defaults.
type Spec struct {
	Name   string
	Doc    string
	Params []ParamSpec
	Render RenderFunc
	// Defaults holds the fragment's default policies.
	Defaults Settings
	// Version is part of every cache key of the fragment; bump it when the
	// output for the same params changes shape.
	Version string
	// Includes names the fragments this one may include in its HTML. An
	// include of any other fragment is refused. Declared statically so that
	// cycles and depth are checked when the configuration loads.
	Includes []string
	// MaxConcurrent bounds the calls of this fragment in flight, across all
	// requests (0 means no bound beyond the composer's).
	MaxConcurrent int
	// Group names the fragments whose calls share GroupLimit slots, such
	// as the fragments of one remote service (its requests in flight).
	// Waiting for a group's slot is queueing inside the composer: it
	// delays an include within its page's budget and does not count
	// against the fragment's timeout. "" or a GroupLimit of 0: no group.
	Group      string
	GroupLimit int
	// PerUser marks output that varies per reader: it is never cached, in
	// any tier, and its calls are never shared between requests.
	PerUser bool
	// NeedsReader marks the one kind of fragment that receives the
	// reader's identity (see ReaderFrom); no other fragment, local or
	// remote, ever sees who reads the page. It implies PerUser.
	NeedsReader bool
	// Assets are the CSS and JS URLs the fragment's HTML needs. A page
	// places each asset once, however many includes need it.
	Assets []string
	// AssetOrigins are the origins ("https://cdn.example") from which a
	// result may name assets of its own (a remote fragment's Link
	// headers), besides the site's own paths and Assets; see
	// AssetAllowed.
	AssetOrigins []string
	// OwnLifetime marks a fragment whose results carry their own fresh and
	// stale times (a *Raw with HasFreshness: a remote fragment's
	// Cache-Control), up to MaxOwnLifetime, where the configuration does
	// not set them. Without it, a result's own times apply only up to
	// the fragment's settings.
	OwnLifetime bool
	// Events lists the events whose publication changes the fragment's
	// output (see EventDep): each refreshes exactly the include it names,
	// so the fragment can keep long TTLs and still change within a second.
	Events []EventDep
	// Example params used by the explorer and by the every-fragment test.
	Example map[string]string
	// Source is the file that defines the fragment, for the explorer.
	Source string
}

func (s *Spec) perUser() bool { return s.PerUser || s.NeedsReader }

type readerKey struct{}

// ReaderFrom returns the identity of the page's reader, as verified by the
// web layer — for fragments that declare NeedsReader; for every other
// fragment it is "" (the context they get does not carry it).
func ReaderFrom(ctx context.Context) string {
	s, _ := ctx.Value(readerKey{}).(string)
	return s
}

// Param returns the declaration of the named param, or nil.
func (s *Spec) Param(name string) *ParamSpec {
	for i := range s.Params {
		if s.Params[i].Name == name {
			return &s.Params[i]
		}
	}
	return nil
}

// Outcome says how one include was obtained.
type Outcome uint8

// The outcomes, as they appear in data-outcome and in metrics.
const (
	OutcomeHit         Outcome = iota // fresh from a cache tier
	OutcomeStale                      // past fresh, within stale; a refresh runs
	OutcomeMiss                       // rendered for this request in time
	OutcomeTimeout                    // not ready by its deadline
	OutcomeError                      // the fragment failed or panicked
	OutcomeFallback                   // the kill switch served the fallback
	OutcomePlaceholder                // never started: invalid, over a limit, unknown
)

var outcomeNames = [...]string{"hit", "stale", "miss", "timeout", "error", "fallback", "placeholder"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Outcomes lists every outcome in order, for metrics and the explorer.
func Outcomes() []Outcome {
	return []Outcome{OutcomeHit, OutcomeStale, OutcomeMiss, OutcomeTimeout, OutcomeError, OutcomeFallback, OutcomePlaceholder}
}
