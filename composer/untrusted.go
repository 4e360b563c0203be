package composer

import (
	"slices"
	"strings"
	"time"
)

// Values from the Store are untrusted.
//
// Anyone who can write to Redis can write a correctly encoded entry: a
// 5 MB one made every page 5 MB, one fresh for ten years never left, and
// its assets were placed on pages (and preloaded through Link headers)
// from any origin. A value read from the Store is therefore held to the
// limits of a fresh render before it reaches a page or L1: the
// fragment's size cap, its lifetimes, and its assets' origins. What it
// says in its HTML is another matter: a Store that signs its values
// (redisstore.Options.Keys) tells values it wrote from values someone
// else did.

// MaxOwnLifetime caps the fresh and the stale time a fragment's result
// brings of its own (see Spec.OwnLifetime): a response asking to be
// cached for a century is cached for a year.
const MaxOwnLifetime = 365 * 24 * time.Hour

// storeClockSkew is how far in the future a Store entry's creation may be:
// the instances' clocks differ a little; an entry made later than that
// would stay fresh past its lifetime here.
const storeClockSkew = 5 * time.Second

// admitStored reports whether e, read from the Store for key and version,
// may be served for fragment f of site at now: it is the entry asked for,
// not expired, and within the limits a fresh render of f would meet —
// its HTML within f's cap (Settings.EffectiveMaxBytes), its fresh and stale times
// within f's (see lifetimes), its assets allowed to f (AssetAllowed). A
// refused entry is counted in Stats.StoreRefused and is a miss.
func (c *Composer) admitStored(site *Site, f *Fragment, key, version string, e *Entry, now time.Time) bool {
	if e == nil || e.Key != key || e.Version != version || !now.Before(e.StaleUntil) {
		return false
	}
	fresh, stale := lifetimes(f)
	ok := len(e.HTML) <= f.Settings.EffectiveMaxBytes(site.Limits) && !e.Created.After(now.Add(storeClockSkew)) &&
		e.FreshUntil.Sub(e.Created) <= fresh && e.StaleUntil.Sub(e.FreshUntil) <= stale
	for _, a := range e.Assets {
		ok = ok && AssetAllowed(f.Spec, a)
	}
	if !ok {
		c.stats.StoreRefused.Add(1)
	}
	return ok
}

// lifetimes are the longest fresh and stale times a result of f may have:
// its settings, or, where the result's own lifetime may replace the
// setting (see freshness), up to MaxOwnLifetime.
func lifetimes(f *Fragment) (fresh, stale time.Duration) {
	fresh, stale = f.Settings.Fresh, f.Settings.Stale
	if f.Spec.OwnLifetime {
		if codeSets(f, "fresh") {
			fresh = max(fresh, MaxOwnLifetime)
		}
		if codeSets(f, "stale") {
			stale = max(stale, MaxOwnLifetime)
		}
	}
	return fresh, stale
}

// AssetAllowed reports whether a result of fragment s may place asset a:
// a valid asset URL (ValidAsset) that is a path on the site itself, one of
// the fragment's declared Assets, or from one of its AssetOrigins. The
// composer holds fresh results and values read from the Store alike to
// it.
func AssetAllowed(s *Spec, a string) bool {
	if !ValidAsset(a) {
		return false
	}
	if a[0] == '/' || slices.Contains(s.Assets, a) {
		return true
	}
	o := Origin(a)
	for _, allowed := range s.AssetOrigins {
		if strings.EqualFold(o, allowed) {
			return true
		}
	}
	return false
}

// Origin returns the scheme and host of an absolute URL
// ("https://cdn.example" for "https://cdn.example/x.css?v=1"), "" for a
// URL without a scheme.
func Origin(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return ""
	}
	if j := strings.IndexAny(u[i+3:], "/?#"); j >= 0 {
		return u[:i+3+j]
	}
	return u
}
