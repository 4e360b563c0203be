package composer

import (
	"bytes"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/broadsheet/broadsheet/composer/compress"
	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// Stitched pages.
//
// A parent's subtree is kept written out once every include under it came
// fresh from a cache tier (stitch.go); a page is the same idea one level
// up. A page of 1,000 top-level includes has no parent to hang a subtree
// on, so, warm, it still cost 1,000 param bindings, a layout render, 1,000
// nodes, look-ups and writes per request: a fifth of what the same bytes
// cost from memory. Once a page has been written with every include (at
// every depth) served fresh from a cache tier, the whole body — the
// layout's text, the includes' HTML and the assets placed as the writer
// placed them — is kept, keyed by the page and the request values its
// includes and layout read. A later request with the same values is
// served that body in one write, with no planning, no layout and no node.
//
// It is exact in the same way as a stitched subtree: every entry of the
// page is one of its parts, and the body is served only while L1 still
// holds every part (see stitchedFor), under the Site it was built with,
// before the earliest freshness of its parts, and within the page's
// include and depth limits. Debug requests never use or build one; a
// per-reader include is never a fresh cache hit, so a page with one is
// never kept; nor is a page whose layout placed the request's CSP nonce.
//
// The kept bodies share -stitch-mb (Options.StitchBytes) with stitched
// subtrees and are evicted by otter like L1's entries.

// stitchedPage is one page's body, written out.
type stitchedPage struct {
	st *stitched // html is the whole body; parts, fresh, counts as for a subtree
	// preload lists the Link headers the head carried (a page with a
	// primary sends its head once the includes have settled).
	preload []string
	// cache is what the page's caching headers are made of (see
	// cachehead.go).
	cache httpcache.Summary
}

// pageStitch keeps stitched pages.
type pageStitch struct {
	l1    *l1
	c     *otter.Cache[string, *stitchedPage]
	clock *otter.CoarseClock
	// building holds the keys of pages being stitched, so that concurrent
	// requests of a page build it once.
	building sync.Map
}

// newPageStitch returns a store of stitched pages within l's stitched
// bytes, or nil when l keeps no stitched subtrees.
func newPageStitch(l *l1) *pageStitch {
	if l == nil || l.stitchMax <= 0 {
		return nil
	}
	clock := otter.NewCoarseClock(time.Millisecond)
	ps := &pageStitch{l1: l, clock: clock}
	ps.c = otter.Must(&otter.Options[string, *stitchedPage]{
		Clock:         clock,
		MaximumWeight: uint64(l.stitchMax),
		Weigher: func(_ string, p *stitchedPage) uint32 {
			return uint32(min(p.st.size, 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *stitchedPage]) time.Duration {
			return max(time.Until(e.Value.st.fresh), time.Millisecond)
		}),
		OnAtomicDeletion: func(ev otter.DeletionEvent[string, *stitchedPage]) { l.unkeep(ev.Value.st) },
	})
	return ps
}

// sweep drops every kept page that a part of has left L1 (a page is
// otherwise dropped when next requested, or evicted). A purge calls it, so
// that a purged fragment's pages give their memory back at once.
func (ps *pageStitch) sweep() {
	if ps == nil {
		return
	}
	for key, sp := range ps.c.All() {
		for _, p := range sp.st.parts {
			if p.gone.Load() {
				ps.c.Invalidate(key)
				break
			}
		}
	}
}

func (ps *pageStitch) close() {
	if ps != nil {
		ps.c.StopAllGoroutines()
		ps.clock.Stop()
	}
}

// servePage serves req's page from its stitched body, if one is kept and
// still exact, and returns the status it answered with (200, or a 304 to a
// matching If-None-Match); 0 when it did not serve the page.
func (c *Composer) servePage(w http.ResponseWriter, hr *http.Request, site *Site, req *Request, key string, start time.Time) (status int) {
	ps := c.pages
	sp, ok := ps.c.GetIfPresent(key)
	if !ok {
		return 0
	}
	st := sp.st
	now := time.Now()
	if !st.servable(ps.l1, site, now) || st.includes > int64(site.Limits.MaxIncludes) || int(st.height) > site.Limits.MaxDepth {
		ps.c.Invalidate(key) // built afresh by the next page written
		return 0
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Server-Timing", string(appendTiming(make([]byte, 0, 24), "plan", time.Since(start))))
	for _, l := range sp.preload {
		h.Add("Link", l)
	}
	r := request{page: req.Page, hr: hr, reader: req.Reader}
	status = http.StatusOK
	if r.cacheHead(w, sp.cache) {
		status = r.headOnly()
	} else {
		writeWhole(w, st.piece)
	}
	c.stats.Stitched.Add(st.includes)
	c.observeStitchedPage(st, time.Since(start))
	return status
}

// observeStitchedPage reports a stitched page's includes: one event per
// fragment, a hit from L1, as a stitched subtree's are.
func (c *Composer) observeStitchedPage(st *stitched, d time.Duration) {
	if c.opts.Observer == nil {
		return
	}
	evs := make([]IncludeEvent, len(st.counts))
	for i, fc := range st.counts {
		evs[i] = IncludeEvent{Fragment: fc.name, Outcome: OutcomeHit, Tier: TierL1, Duration: d, Count: fc.n}
	}
	if c.batcher != nil {
		c.batcher.Includes(evs)
		return
	}
	for _, ev := range evs {
		c.opts.Observer.Include(ev)
	}
}

// stitchPage keeps the page just written (segs, the layout's segments,
// and tops, its includes) when every include in it was served fresh from
// a cache tier. preload are the Link headers its head carried. It runs
// after the page was written, on the request's goroutine.
//
// It is long because every check that the page may be kept whole is made
// in the one pass that writes it out.
func (r *request) stitchPage(key string, segs []segment, tops []node, nonce string, preload []string) {
	ps := r.c.pages
	for i := range tops {
		n := &tops[i]
		if n.state.Load() != done || n.outcome != OutcomeHit {
			return
		}
	}
	if nonce != "" && r.layoutBuf != nil && bytes.Contains(r.layoutBuf.Bytes(), []byte(nonce)) {
		return // the layout placed this request's nonce
	}
	if _, busy := ps.building.LoadOrStore(key, struct{}{}); busy {
		return
	}
	defer ps.building.Delete(key)
	if sp, ok := ps.c.GetIfPresent(key); ok && sp.st.site == r.site {
		return // kept meanwhile
	}
	b := stitchBuilder{st: &stitched{site: r.site, fresh: time.Unix(1<<62, 0)}}
	// The layout's text is written here, level by level, so that the
	// assets go where writePage put them: before the first </head> of the
	// layout's own text, and the scripts before the last segment's </body>.
	headAt, bodyAt := -1, -1
	last := len(segs) - 1
	j := 0
	for i, s := range segs {
		if headAt < 0 {
			if k := bytes.Index(s.text, []byte("</head>")); k >= 0 {
				headAt = b.buf.Len() + k
			}
		}
		if i == last && s.inc == nil {
			k := bytes.LastIndex(s.text, []byte("</body>"))
			if k < 0 {
				k = len(s.text)
			}
			bodyAt = b.buf.Len() + k
		}
		b.buf.Write(s.text)
		if s.inc == nil {
			continue
		}
		if !b.subtree([]segment{{inc: s.inc}}, tops[j:j+1], 1) {
			return
		}
		j++
	}
	if headAt < 0 || !time.Now().Before(b.st.fresh) {
		return
	}
	if bodyAt < 0 {
		bodyAt = b.buf.Len()
	}
	body := b.buf.Bytes()
	assets := r.settledAssets()
	out := make([]byte, 0, len(body)+64*len(assets))
	out = append(out, body[:headAt]...)
	var js []string
	for _, a := range assets {
		if isCSS(a) {
			out = appendStylesheet(out, a)
		} else {
			js = append(js, a)
		}
	}
	out = append(out, body[headAt:bodyAt]...)
	for _, a := range js {
		out = appendScript(out, a)
	}
	out = append(out, body[bodyAt:]...)
	st := b.st
	st.html = out
	st.piece = compress.NewPiece(out, ps.l1)
	st.checked.Store(math.MaxUint64) // its first use checks every part
	st.size = int64(st.bytes() + strSize(key) + l1Overhead)
	l := ps.l1
	if l.stitchBytes.Add(st.size) > l.stitchMax {
		l.stitchBytes.Add(-st.size)
		return
	}
	var tl httpcache.Tally
	r.tally(&tl, nonce)
	ps.c.Set(key, &stitchedPage{st: st, preload: preload, cache: tl.Summary()}) // a replaced or evicted page is counted out (newPageStitch)
}
