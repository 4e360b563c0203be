// Package httpcache turns what a composed page is made of into the headers
// that let browsers and CDNs cache it: Cache-Control from the includes'
// freshness, an ETag from their versions, If-None-Match answered per RFC
// 9110, and surrogate keys naming the page's fragments and includes for
// purges at the CDN.
//
// A Tally is filled, include by include, while the page's head is being
// decided; Head then gives the headers. Nothing here touches the network
// or the clock: the caller passes now.
//
// The rules (README, "Behind a CDN"):
//
//  1. A page for a signed-in reader, a page with a per-reader include, or a
//     debug page: "private, no-store" and "Vary: Cookie"; no ETag, no keys.
//  2. A page not wholly known when its head is sent — an include still
//     being made, or one served as a fallback or a placeholder — is
//     "no-store": a CDN must not keep a degraded or half-known page, and
//     no validator can name it. Its next request, served from the cache
//     tiers, is cacheable.
//  3. Every other page is "public, max-age=" the smallest remaining
//     freshness of its includes (whole seconds, rounded down),
//     "stale-while-revalidate=" what is left of the smallest stale window
//     beyond that, an ETag from the includes' versions and surrogate keys.
//     site.yaml's per-page cache: max_age lowers max-age (never raises
//     it), s_maxage adds s-maxage (a CDN purged by key may keep the page
//     longer than a browser), private makes it "private, max-age=…" with
//     its ETag and no surrogate keys.
package httpcache

import (
	"encoding/hex"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Policy is a page's own cache settings (site.yaml's cache:). The zero
// value leaves the rules above alone.
type Policy struct {
	// MaxAge, when set, caps the max-age computed from the includes.
	MaxAge    time.Duration
	HasMaxAge bool
	// SMaxAge, when set, is the page's s-maxage: how long a shared cache
	// may keep it.
	SMaxAge    time.Duration
	HasSMaxAge bool
	// Private keeps the page out of shared caches.
	Private bool
}

// Tally accumulates what a page's head depends on. The zero value is an
// empty page; it is not safe for concurrent use.
type Tally struct {
	fresh, stale time.Time
	parts        int
	sum          uint64 // of the parts' hashes: their order is the layout's
	layout       uint64
	perReader    bool
	incomplete   bool
	keys         Keys
}

// Layout records the page's own text (its rendered layout): a page whose
// layout changed is a different page.
func (t *Tally) Layout(b []byte) { t.layout = xxhash.Sum64(b) }

// Part records one include served from an entry: its canonical key
// ("fragment?params"), the version it was rendered with, when it was made
// and its freshness.
func (t *Tally) Part(fragment, key, version string, created, freshUntil, staleUntil time.Time) {
	if t.parts == 0 || freshUntil.Before(t.fresh) {
		t.fresh = freshUntil
	}
	if t.parts == 0 || staleUntil.Before(t.stale) {
		t.stale = staleUntil
	}
	t.parts++
	// Summed, so that the order the parts are met in does not matter;
	// mixed, so that a sum of parts cannot pass for another.
	h := xxhash.Sum64String(key) ^ bits.RotateLeft64(xxhash.Sum64String(version), 23) ^ uint64(created.UnixNano())*0x9e3779b97f4a7c15
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	t.sum += h
	t.keys.Add(fragment, key)
}

// PerReader records that the page holds output made for its reader.
func (t *Tally) PerReader() { t.perReader = true }

// Incomplete records an include the page's head cannot account for: not
// settled yet, or served without an entry (fallback, placeholder).
func (t *Tally) Incomplete() { t.incomplete = true }

// SetKeyCap bounds the include keys listed in the surrogate keys (see
// Keys); call it before the first Part.
func (t *Tally) SetKeyCap(n int) { t.keys.Cap = n }

// Head is the caching headers of one page.
type Head struct {
	// CacheControl is the Cache-Control value; never empty.
	CacheControl string
	// ETag is a weak entity tag, empty when the page has none.
	ETag string
	// VaryCookie says to send "Vary: Cookie".
	VaryCookie bool
	// Keys are the surrogate keys (Surrogate-Key and xkey), space
	// separated; empty for a page no shared cache may keep.
	Keys string
}

// Summary is what a page's head depends on, once its includes have been
// tallied: a value that can be kept (with a page kept whole) and turned
// into a Head at any later moment.
type Summary struct {
	perReader, incomplete bool
	parts                 int
	fresh, stale          time.Time
	etag, keys            string
}

// Summary returns the tally's summary. The ETag and the keys are made only
// for a page that may be cached.
func (t *Tally) Summary() Summary {
	s := Summary{perReader: t.perReader, incomplete: t.incomplete, parts: t.parts, fresh: t.fresh, stale: t.stale}
	if !s.perReader && !s.incomplete {
		s.etag = t.etag()
		s.keys = t.keys.String()
	}
	return s
}

// Head returns the page's caching headers at now (see the package's
// rules), under its policy. A signed-in reader (reader) makes any page
// private.
func (s Summary) Head(now time.Time, p Policy, reader bool) Head {
	if reader || s.perReader {
		return Head{CacheControl: "private, no-store", VaryCookie: true}
	}
	if s.incomplete {
		return Head{CacheControl: "no-store"}
	}
	maxAge, swr := int64(0), int64(0) // a layout alone has nothing to say how long it is fresh
	if s.parts > 0 {
		maxAge = seconds(s.fresh.Sub(now))
	}
	if p.HasMaxAge {
		maxAge = min(maxAge, seconds(p.MaxAge))
	}
	if s.parts > 0 {
		swr = max(seconds(s.stale.Sub(now))-maxAge, 0)
	}
	b := make([]byte, 0, 80)
	if p.Private {
		b = append(b, "private, max-age="...)
	} else {
		b = append(b, "public, max-age="...)
	}
	b = strconv.AppendInt(b, maxAge, 10)
	if p.HasSMaxAge && !p.Private {
		b = append(b, ", s-maxage="...)
		b = strconv.AppendInt(b, seconds(p.SMaxAge), 10)
	}
	if swr > 0 {
		b = append(b, ", stale-while-revalidate="...)
		b = strconv.AppendInt(b, swr, 10)
	}
	h := Head{CacheControl: string(b), ETag: s.etag}
	if !p.Private {
		h.Keys = s.keys
	}
	return h
}

// etag is the page's weak entity tag: its layout and the identity of every
// entry it is made of (key, version, creation), so that any include made
// again, a new fragment version or a purge changes it. It is weak because
// the same page may be sent in other content codings.
func (t *Tally) etag() string {
	var b [24]byte
	for i := range 8 {
		b[i] = byte(t.layout >> (8 * i))
		b[8+i] = byte(t.sum >> (8 * i))
		b[16+i] = byte(uint64(t.parts) >> (8 * i))
	}
	s := xxhash.Sum64(b[:])
	var out [8]byte
	for i := range out {
		out[i] = byte(s >> (56 - 8*i))
	}
	return `W/"` + hex.EncodeToString(out[:]) + `"`
}

// seconds rounds d down to whole seconds, never below 0.
func seconds(d time.Duration) int64 { return max(int64(d/time.Second), 0) }

// keyOK reports whether s can be one surrogate key: printable ASCII with
// no space or comma (the separators of Surrogate-Key and xkey), at most
// maxKeyLen bytes.
func keyOK(s string) bool {
	if s == "" || len(s) > maxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ',' || c == '"' {
			return false
		}
	}
	return true
}

// maxKeyLen is the longest surrogate key sent (Fastly accepts 1024 bytes).
const maxKeyLen = 256

// trimTo drops trailing whole keys so that s fits in n bytes.
func trimTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return ""
}
