package composer

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// HTTP caching of composed pages (see package httpcache for the rules).
//
// A page's head is decided once its look-up is done: for a page without a
// primary include, right after every level that the cache tiers could
// serve was resolved (before any fragment call's result is awaited); for a
// page with primaries, once they have resolved. Whatever is settled then is
// tallied: the entries' versions make the ETag and their freshness the
// Cache-Control; anything still being made makes the page "no-store". A
// request whose If-None-Match matches is answered 304 at that moment, and a
// HEAD request gets the head alone: neither writes, nor waits for, the
// body.

// Purger tells a CDN to drop the pages carrying any of the given surrogate
// keys. Implementations must not block (package cdn queues and batches).
type Purger interface {
	Purge(keys ...string)
}

// tally records the page's settled includes, at every depth, in t.
func (r *request) tally(t *httpcache.Tally, nonce string) {
	t.SetKeyCap(r.c.opts.SurrogateKeys)
	if r.layoutBuf != nil {
		b := r.layoutBuf.Bytes()
		t.Layout(b)
		if nonce != "" && bytes.Contains(b, []byte(nonce)) {
			t.Incomplete() // the layout placed this request's nonce: a page of its own
		}
	}
	tallyNodes(t, r.tops)
}

func tallyNodes(t *httpcache.Tally, nodes []node) {
	for i := range nodes {
		n := &nodes[i]
		if n.frag != nil && n.frag.Spec.perUser() {
			t.PerReader()
		}
		if n.state.Load() != done || n.entry == nil {
			t.Incomplete()
			continue
		}
		tallyEntry(t, n.ref.fragment, n.entry)
		switch {
		case n.stitch != nil:
			for _, p := range n.stitch.Parts {
				tallyEntry(t, httpcache.FragmentOf(p.Key), p)
			}
		case n.children != nil:
			tallyNodes(t, n.children)
		}
	}
}

func tallyEntry(t *httpcache.Tally, fragment string, e *Entry) {
	t.Part(fragment, e.Key, e.Version, e.Created, e.FreshUntil, e.StaleUntil)
}

// cacheHead sets the page's caching headers on h and reports whether the
// request is answered without a body: a 304 (If-None-Match matched, also
// written here) or a HEAD.
func (r *request) cacheHead(w http.ResponseWriter, s httpcache.Summary) (bodyless bool) {
	hd := s.Head(time.Now(), r.page.Cache, r.reader != "" || r.debug)
	setCacheHead(w.Header(), hd)
	if notModified(r.hr, hd) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return r.hr != nil && r.hr.Method == http.MethodHead
}

// setCacheHead writes hd's headers.
func setCacheHead(h http.Header, hd httpcache.Head) {
	h.Set("Cache-Control", hd.CacheControl)
	if hd.ETag != "" {
		h.Set("ETag", hd.ETag)
	}
	if hd.VaryCookie {
		h.Add("Vary", "Cookie")
	}
	if hd.Keys != "" {
		h.Set("Surrogate-Key", hd.Keys)
		h.Set("xkey", hd.Keys)
	}
}

// notModified reports whether hr's If-None-Match matches the page's head.
func notModified(hr *http.Request, hd httpcache.Head) bool {
	if hr == nil || (hr.Method != http.MethodGet && hr.Method != http.MethodHead) {
		return false
	}
	v := hr.Header.Values("If-None-Match")
	if len(v) == 0 {
		return false
	}
	return httpcache.NoneMatch(strings.Join(v, ","), hd.ETag, true)
}

// purgeInclude tells the Purger, if any, that the include with key changed.
func (c *Composer) purgeInclude(key string) {
	if c.opts.Purger != nil {
		c.opts.Purger.Purge(httpcache.IncludePurge(httpcache.FragmentOf(key), key)...)
	}
}

// purgeFragment tells the Purger, if any, that every entry of fragment
// changed.
func (c *Composer) purgeFragment(fragment string) {
	if c.opts.Purger != nil {
		c.opts.Purger.Purge(httpcache.FragmentPurge(fragment)...)
	}
}
