package composer

import (
	"bytes"
	"time"

	"github.com/broadsheet/broadsheet/composer/httpcache"
	"github.com/broadsheet/broadsheet/composer/internal/tier"
)

// Stitching: once the writer has written a parent whose every include (at
// every depth) was served fresh from a cache tier, the parent's subtree is
// kept written out whole on the parent's L1 entry, and a page written so,
// whole, under its key (see package tier for the idea and why it is
// exact). A later request finds the subtree on the parent's entry (see
// stitchedFor) or the page under its key (see servePage).
//
// What is the composer's: debug requests never use or build one (their
// markers are per include), nor do subtrees holding per-reader content (a
// per-reader include is never a fresh cache hit, so a page with one is
// never kept either), nor a page whose layout placed the request's CSP
// nonce. A page is keyed by the page and the request values its includes
// and layout read (see pagekey.go). Include events are still reported, one
// per fragment with a Count (see IncludeEvent), and the page's include and
// depth limits still apply. Subtrees and pages share -stitch-mb
// (Options.StitchBytes).

// stitch keeps n's subtree, just written, on n's entry when every include
// under it was served fresh from a cache tier, and no subtree is kept there
// already. It runs on the page's writer, after n's subtree was written.
func (r *request) stitch(n *node) {
	l := r.c.l1
	e := n.entry
	if l == nil || !l.Stitches() || r.debug || n.outcome != OutcomeHit || !e.mark.Claim() {
		return
	}
	defer e.mark.Release()
	b := stitchBuilder{st: tier.NewSubtree[*Entry](r.site, e.FreshUntil)}
	b.st.AddAssets(e.Assets)
	if !b.subtree(e.segs, n.children, 1) || !time.Now().Before(b.st.Fresh) {
		return
	}
	l.Keep(&e.mark, b.st, b.buf.Bytes())
}

// stitchBuilder writes a subtree out as it counts its parts.
type stitchBuilder struct {
	st  *subtree
	buf bytes.Buffer
}

// subtree writes the segments of a parent and its children (at height h
// below the stitched parent) into the builder. It reports false when any of
// them cannot be part of a stitched subtree.
func (b *stitchBuilder) subtree(segs []segment, children []node, h int32) bool {
	st := b.st
	st.Height = max(st.Height, h)
	j := 0
	for _, s := range segs {
		b.buf.Write(s.text)
		if s.inc == nil {
			continue
		}
		c := &children[j]
		j++
		e := c.entry
		if c.state.Load() != done || e == nil || c.outcome != OutcomeHit || (c.tier != TierL1 && c.tier != TierStore) ||
			c.frag == nil || c.frag.Spec.perUser() || e.mark.Gone() {
			return false
		}
		st.Add(e, c.ref.fragment, e.FreshUntil, e.Assets)
		switch {
		case c.stitch != nil:
			// Served stitched itself: its parts are this one's too.
			b.buf.Write(c.stitch.HTML)
			st.Nest(c.stitch, h)
		case c.children != nil:
			if !b.subtree(e.segs, c.children, h+1) {
				return false
			}
		default:
			b.buf.Write(e.HTML)
		}
	}
	return true
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
	if r.anyAssets.Load() && !hasHead(segs) {
		// writePage placed each stylesheet where its include stood,
		// which a kept page does not reproduce.
		return
	}
	if !ps.Claim(key) {
		return
	}
	defer ps.Release(key)
	if p := ps.Get(key); p != nil && p.Subtree.Scope == any(r.site) {
		return // kept meanwhile
	}
	b := stitchBuilder{st: tier.NewSubtree[*Entry](r.site, time.Unix(1<<62, 0))}
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
	if !time.Now().Before(b.st.Fresh) {
		return
	}
	if headAt < 0 {
		if len(b.st.Assets) > 0 {
			return
		}
		headAt = 0 // no </head>, and no asset to place
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
	var tl httpcache.Tally
	r.tally(&tl, nonce)
	ps.Keep(key, &keptPage{Subtree: b.st, Preload: preload, Cache: tl.Summary()}, out)
}

// hasHead reports whether the layout's text among segs closes its head.
func hasHead(segs []segment) bool {
	for _, s := range segs {
		if bytes.Contains(s.text, []byte("</head>")) {
			return true
		}
	}
	return false
}
