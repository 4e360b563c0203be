package composer

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// Serve composes req.Page and streams it to w. It never returns an error:
// whatever the fragments do, the reader gets a complete page (or a readable
// 4xx/5xx page) within the budget plus a few milliseconds. When the client
// goes away (r's context ends) the request's waiting stops at once, and
// fragment calls that only it was waiting for are cancelled (see party);
// calls other requests still wait for, and background refreshes, run on.
func (c *Composer) Serve(w http.ResponseWriter, hr *http.Request, req Request) {
	site := c.site.Load()
	page := req.Page
	start := req.Start
	if start.IsZero() {
		start = time.Now()
	}
	budget := page.Budget
	if budget <= 0 {
		budget = site.Limits.Budget
	}
	// The body goes out in the coding the client prefers (see encode.go).
	w, enc := c.encode(w, hr)
	if enc != nil {
		defer c.encoded(enc)
	}
	// A page kept whole (see pagestitch.go) is one look-up and one write.
	var pageKey string
	if c.pages != nil && !req.Debug {
		pageKey = c.pages.key(page, &req)
		if c.servePage(w, hr, site, &req, pageKey, start) {
			c.observePage(page.Name, http.StatusOK, time.Since(start))
			return
		}
	}
	// Anything else is composed: admitted by what it is expected to cost
	// (see admit.go).
	cost, reserved, ok := c.admission.admit(page.Name)
	if !ok {
		c.refuse(w)
		c.observePage(page.Name, http.StatusServiceUnavailable, time.Since(start))
		return
	}
	ctx, cancel := context.WithCancelCause(hr.Context())
	defer cancel(errServed) // not the client leaving: see party
	var r *request
	defer func() {
		// Levels the client left before they settled write what they have.
		r.mu.Lock()
		for _, l := range r.levels {
			l.flush()
		}
		r.mu.Unlock()
		c.admission.done(cost, reserved, r.count.Load())
		r.observeTree()
		if !r.escaped.Load() {
			freeNodes(r.tops)
		}
		if b := r.layoutBuf; b != nil && b.Cap() <= 256<<10 {
			b.Reset()
			layoutBufs.Put(b)
		}
	}()
	r = &request{
		c:        c,
		site:     site,
		page:     page,
		hr:       hr,
		nonce:    req.Nonce,
		ctx:      ctx,
		start:    start,
		deadline: start.Add(budget),
		budget:   budget,
		notify:   make(chan struct{}, 1),
		debug:    req.Debug,
		reader:   req.Reader,
		party:    newParty(ctx),
		enc:      enc,
	}
	status := http.StatusOK
	defer func() { c.observePage(page.Name, status, time.Since(start)) }()

	// Plan: page includes to (fragment, params) pairs, then the layout.
	refs, st, msg := r.planPage(page, req)
	if st != 0 {
		status = st
		c.errorPage(w, st, msg)
		return
	}
	segs, tops, err := r.renderLayout(page, req, refs)
	r.tops = tops
	if err != nil {
		status = http.StatusInternalServerError
		c.log.ErrorContext(r.ctx, "composer: layout failed", "page", page.Name, "err", err)
		c.errorPage(w, status, "This page could not be laid out.")
		return
	}
	tPlan := time.Since(start)

	hasPrimary := false
	for i := range tops {
		hasPrimary = hasPrimary || tops[i].primary
	}
	bw := pageWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		pageWriters.Put(bw)
	}()
	r.resolve([][]node{tops})
	tLookup := time.Since(start) - tPlan
	if !hasPrimary {
		// Nothing can fail the page: the head goes out now that the cache
		// tiers have said what they hold (see cachehead.go), with the
		// page's first bytes, microseconds from now, or when the writer
		// first has to wait.
		if !r.writeHeader(w, http.StatusOK, timing{plan: tPlan}) {
			return
		}
	}

	var tPrim time.Duration
	if hasPrimary {
		for i := range tops {
			n := &tops[i]
			if !n.primary {
				continue
			}
			r.await(n, nil)
			if n.entry == nil {
				if errors.Is(n.err, ErrNotFound) {
					status = http.StatusNotFound
					c.errorPage(w, status, "There is nothing at this address.")
					return
				}
				status = http.StatusServiceUnavailable
				w.Header().Set("Retry-After", "5")
				c.errorPage(w, status, "Part of this page is unavailable right now. Please try again in a moment.")
				return
			}
		}
		tPrim = time.Since(start) - tPlan - tLookup
		if !r.writeHeader(w, http.StatusOK, timing{plan: tPlan, lookup: tLookup, primaries: tPrim}) {
			return
		}
	}

	var overlay func(*bufio.Writer)
	if r.debug {
		overlay = func(bw *bufio.Writer) {
			r.writeOverlay(bw, tops, timing{plan: tPlan, lookup: tLookup, primaries: tPrim, total: time.Since(start)}, req.Nonce)
		}
	}
	r.writePage(bw, w, segs, tops, overlay)
	if err := bw.Flush(); err != nil {
		return // client gone
	}
	if pageKey != "" {
		r.stitchPage(pageKey, segs, tops, req.Nonce, r.preload)
	}
	if time.Since(start) > budget+10*time.Millisecond {
		c.stats.Overruns.Add(1)
	}
}

type timing struct{ plan, lookup, primaries, total time.Duration }

// writeHeader writes the page's head; it reports whether the body follows
// (not after a 304, nor for HEAD: see cacheHead).
func (r *request) writeHeader(w http.ResponseWriter, status int, t timing) bool {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	st := make([]byte, 0, 96)
	st = appendTiming(st, "plan", t.plan)
	if t.lookup > 0 || t.primaries > 0 {
		st = append(st, ", "...)
		st = appendTiming(st, "lookup", t.lookup)
		st = append(st, ", "...)
		st = appendTiming(st, "primaries", t.primaries)
	}
	h.Set("Server-Timing", string(st))
	if r.anyAssets.Load() {
		// Assets known before the head goes out are preloaded.
		for _, a := range r.settledAssets() {
			as := "script"
			if isCSS(a) {
				as = "style"
			}
			l := "<" + a + ">; rel=preload; as=" + as
			h.Add("Link", l)
			r.preload = append(r.preload, l)
		}
	}
	// Not flushed here: the writer starts at once, and the head goes out
	// with the page's first bytes or as soon as the writer has to wait for
	// an include (it flushes then, see writePage). A flush of its own cost
	// a write system call per page: 10% of a warm page's CPU.
	var tl httpcache.Tally
	r.tally(&tl, r.nonce)
	if r.cacheHead(w, tl.Summary()) {
		return false
	}
	w.WriteHeader(status)
	return true
}

func appendTiming(b []byte, name string, d time.Duration) []byte {
	b = append(b, name...)
	b = append(b, ";dur="...)
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
}

func (c *Composer) errorPage(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	title := http.StatusText(status)
	if c.opts.ErrorPage != nil {
		_ = c.opts.ErrorPage(status, title, msg).Render(context.Background(), w)
		return
	}
	_, _ = w.Write([]byte("<!doctype html><title>" + title + "</title><h1>" + title + "</h1><p>" + escapeText(msg) + "</p>"))
}
