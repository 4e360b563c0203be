package httpcache

import "strings"

// Surrogate keys.
//
// A page's Surrogate-Key (and xkey, Varnish's name for it) lists, space
// separated:
//
//   - the name of every fragment it includes, at any depth ("score");
//   - the canonical key of each include ("score?match=m0042"), up to a cap;
//   - for a fragment some of whose includes were left out by the cap, the
//     fragment's name followed by "?*" ("score?*").
//
// So that a CDN purge reaches every page that showed a changed include: a
// changed include is purged as its key and its fragment's "?*" key
// (IncludePurge), a purged fragment as its name (FragmentPurge). Keys that
// could not travel in the header (a space, a comma, a control byte, over
// 256 bytes) count as left out.

// DefaultKeyCap is how many include keys a page lists unless told.
const DefaultKeyCap = 64

// maxKeysBytes bounds the header's value, well within the 8 KiB Varnish
// allows a response header line (http_resp_hdr_len).
const maxKeysBytes = 4 << 10

// Keys collects a page's surrogate keys. The zero value lists up to
// DefaultKeyCap include keys; a negative Cap lists none.
type Keys struct {
	// Cap is the most include keys listed (0: DefaultKeyCap).
	Cap int

	frags []string
	over  []bool // per frags: some include left out
	keys  []string
	seen  map[string]struct{}
	n     int // bytes of frags and keys, with separators
}

// Add records an include of fragment with the canonical key.
func (k *Keys) Add(fragment, key string) {
	fi := -1
	for i := len(k.frags) - 1; i >= 0; i-- { // runs of one fragment are the rule
		if k.frags[i] == fragment {
			fi = i
			break
		}
	}
	if fi < 0 {
		if !keyOK(fragment) {
			return
		}
		k.frags = append(k.frags, fragment)
		k.over = append(k.over, false)
		fi = len(k.frags) - 1
		k.n += len(fragment) + 1
	}
	if k.over[fi] {
		return
	}
	if _, ok := k.seen[key]; ok {
		return
	}
	limit := k.Cap
	if limit == 0 {
		limit = DefaultKeyCap
	}
	if len(k.keys) >= limit || !keyOK(key) || k.n+len(key)+1 > maxKeysBytes-len(fragment)-3 {
		k.over[fi] = true
		k.n += len(fragment) + 3
		return
	}
	if k.seen == nil {
		k.seen = make(map[string]struct{})
	}
	k.seen[key] = struct{}{}
	k.keys = append(k.keys, key)
	k.n += len(key) + 1
}

// String returns the keys, space separated: fragments first, then the
// include keys, then the "?*" keys.
func (k *Keys) String() string {
	var b strings.Builder
	b.Grow(k.n)
	add := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	for _, f := range k.frags {
		add(f)
	}
	for _, key := range k.keys {
		add(key)
	}
	for i, f := range k.frags {
		if k.over[i] {
			add(f + "?*")
		}
	}
	return trimTo(b.String(), maxKeysBytes)
}

// IncludePurge returns the surrogate keys to purge when the include of
// fragment with key has changed: the include's own key, and the key of the
// pages that did not list it one by one.
func IncludePurge(fragment, key string) []string {
	out := make([]string, 0, 2)
	if keyOK(key) {
		out = append(out, key)
	}
	if keyOK(fragment) {
		out = append(out, fragment+"?*")
	}
	return out
}

// FragmentPurge returns the surrogate keys to purge when every entry of
// fragment has changed (purged, or a new version).
func FragmentPurge(fragment string) []string {
	if !keyOK(fragment) {
		return nil
	}
	return []string{fragment}
}

// FragmentOf returns the fragment name of a canonical include key.
func FragmentOf(key string) string {
	if i := strings.IndexByte(key, '?'); i >= 0 {
		return key[:i]
	}
	return key
}
