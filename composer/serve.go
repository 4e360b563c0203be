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
//
// A request goes through plan.go (params, layout), lookup.go (L1, the
// Store), fanout.go (joining and starting calls), settle.go, stream.go
// (the writer), stitch.go (keeping what was written whole), writeback.go
// and observe.go, in that order.
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
	// A page kept whole (see stitch.go) is one look-up and one write.
	var pageKey string
	if c.pages != nil && !req.Debug {
		pageKey = c.keyer.key(page, &req)
		if status := c.servePage(w, hr, site, &req, pageKey, start); status != 0 {
			c.observePage(page.Name, status, time.Since(start))
			return
		}
	}
	// Anything else is composed: admitted by what it is expected to cost
	// (see admit.go).
	costKey := pageKey
	if costKey == "" {
		costKey = c.keyer.key(page, &req)
	}
	adm, ok := c.admission.admit(page.Name, costKey)
	if !ok {
		c.refuse(w)
		c.observePage(page.Name, http.StatusServiceUnavailable, time.Since(start))
		return
	}
	ctx, cancel := context.WithCancelCause(hr.Context())
	defer cancel(errServed) // not the client leaving: see party
	r := &request{
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
	defer r.end(adm)
	status := r.compose(w, page, req, pageKey)
	c.observePage(page.Name, status, time.Since(start))
}

// end releases what the request held once Serve is done with it.
func (r *request) end(adm admitted) {
	// Levels the client left before they settled write what they have.
	r.mu.Lock()
	for _, l := range r.levels {
		l.flush()
	}
	r.mu.Unlock()
	r.c.admission.done(adm, r.count.Load())
	r.observeTree()
	if !r.escaped.Load() {
		freeNodes(r.tops)
	}
	if b := r.layoutBuf; b != nil && b.Cap() <= 256<<10 {
		b.Reset()
		layoutBufs.Put(b)
	}
}

// head writes the page's head once the look-ups are done: at once when no
// include can fail the page, else once its primaries have settled (t
// gains their time). It reports whether the page ended there — a primary
// failed (its error page's status), or a HEAD request or a 304 needs no
// body — and with what status.
func (r *request) head(w http.ResponseWriter, tops []node, t *timing) (status int, ended bool) {
	hasPrimary := false
	for i := range tops {
		hasPrimary = hasPrimary || tops[i].primary
	}
	if !hasPrimary {
		// Nothing can fail the page: the head goes out now that the cache
		// tiers have said what they hold (see cachehead.go), with the
		// page's first bytes, microseconds from now, or when the writer
		// first has to wait.
		if !r.writeHeader(w, http.StatusOK, timing{plan: t.plan}) {
			return r.headOnly(), true
		}
		return 0, false
	}
	if st := r.awaitPrimaries(w, tops); st != 0 {
		return st, true
	}
	t.primaries = time.Since(r.start) - t.plan - t.lookup
	if !r.writeHeader(w, http.StatusOK, *t) {
		return r.headOnly(), true
	}
	return 0, false
}

// compose plans, looks up and streams the page, and returns its status.
//
// It reads as the request's steps in order (plan, head, look-up,
// primaries, stream, keep), each a call; what is left here is the timing
// and the page writer they share.
func (r *request) compose(w http.ResponseWriter, page *Page, req Request, pageKey string) (status int) {
	c, start := r.c, r.start
	// Plan: page includes to (fragment, params) pairs, then the layout.
	refs, st, msg := r.planPage(page, req)
	if st != 0 {
		c.errorPage(w, st, msg)
		return st
	}
	segs, tops, err := r.renderLayout(page, req, refs)
	r.tops = tops
	if err != nil {
		c.log.ErrorContext(r.ctx, "composer: layout failed", "page", page.Name, "err", err)
		c.errorPage(w, http.StatusInternalServerError, "This page could not be laid out.")
		return http.StatusInternalServerError
	}
	t := timing{plan: time.Since(start)}

	bw := pageWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		pageWriters.Put(bw)
	}()
	r.resolve([][]node{tops})
	t.lookup = time.Since(start) - t.plan
	if st, ended := r.head(w, tops, &t); ended {
		return st
	}

	var overlay func(*bufio.Writer)
	if r.debug {
		overlay = func(bw *bufio.Writer) {
			t.total = time.Since(start)
			r.writeOverlay(bw, tops, t, req.Nonce)
		}
	}
	r.writePage(bw, w, segs, tops, overlay)
	if err := bw.Flush(); err != nil {
		return http.StatusOK // client gone
	}
	if pageKey != "" {
		r.stitchPage(pageKey, segs, tops, req.Nonce, r.preload)
	}
	if time.Since(start) > r.budget+10*time.Millisecond {
		c.stats.Overruns.Add(1)
	}
	return http.StatusOK
}

// awaitPrimaries waits for the page's primary includes and, when one has
// no content, writes the error page it makes the page: a 404 when the
// primary found nothing, else a 503. It returns that status, or 0 when
// every primary has content.
func (r *request) awaitPrimaries(w http.ResponseWriter, tops []node) int {
	for i := range tops {
		n := &tops[i]
		if !n.primary {
			continue
		}
		r.await(n, nil)
		if n.entry != nil {
			continue
		}
		if errors.Is(n.err, ErrNotFound) {
			r.c.errorPage(w, http.StatusNotFound, "There is nothing at this address.")
			return http.StatusNotFound
		}
		w.Header().Set("Retry-After", "5")
		r.c.errorPage(w, http.StatusServiceUnavailable, "Part of this page is unavailable right now. Please try again in a moment.")
		return http.StatusServiceUnavailable
	}
	return 0
}

type timing struct{ plan, lookup, primaries, total time.Duration }

// headOnly is the status of a page whose head was its whole answer (see
// writeHeader): a 304, or a HEAD request's 200.
func (r *request) headOnly() int {
	if r.hr != nil && r.hr.Method == http.MethodHead {
		return http.StatusOK
	}
	return http.StatusNotModified
}

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

// servePage serves req's page from its body kept whole, if one is kept and
// still exact, and returns the status it answered with (200, or a 304 to a
// matching If-None-Match); 0 when it did not serve the page.
func (c *Composer) servePage(w http.ResponseWriter, hr *http.Request, site *Site, req *Request, key string, start time.Time) (status int) {
	sp := c.pages.Get(key)
	if sp == nil {
		return 0
	}
	st := sp.Subtree
	now := time.Now()
	if !st.Servable(c.l1, site, now) || st.Includes > int64(site.Limits.MaxIncludes) || int(st.Height) > site.Limits.MaxDepth {
		c.pages.Drop(key) // built afresh by the next page written
		return 0
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Server-Timing", string(appendTiming(make([]byte, 0, 24), "plan", time.Since(start))))
	for _, l := range sp.Preload {
		h.Add("Link", l)
	}
	r := request{page: req.Page, hr: hr, reader: req.Reader}
	status = http.StatusOK
	if r.cacheHead(w, sp.Cache) {
		status = r.headOnly()
	} else {
		writeWhole(w, st.Piece)
	}
	c.stats.Stitched.Add(st.Includes)
	c.observeStitchedPage(st, time.Since(start))
	return status
}
