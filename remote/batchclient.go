package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// Batching, client side.
//
// A fragment declared with batch: true fetches through its host's batcher
// instead of a GET of its own. Fetch enqueues the item; the batcher's
// collector waits until the queue stops growing for BatchWindow (or
// BatchMaxWait since it started, or MaxBatchItems are queued) and sends
// what it holds as one POST to the batch endpoint. Each item is then
// judged exactly like a GET's response (status, size cap, UTF-8,
// Cache-Control, Link), as its frame arrives.
//
// Each item keeps its own deadline: its waiter returns a timeout when its
// context ends, whatever the batch does; when every waiter of a batch has
// left, the batch request is cancelled. A malformed or truncated response
// fails the items whose frames have not arrived, and only those.
//
// Breaker, in-flight slots and counters are per item, as for GETs: an
// item takes the host's breaker permission and an in-flight slot before
// it is queued and gives them back when its waiter returns, so
// MaxInFlightPerHost bounds the fragment requests a host is asked for,
// batched or not, and HostStats.Requests counts fragment requests
// (HostStats.Batches counts the batch requests).

// batcher queues the items of one batch endpoint.
type batcher struct {
	c        *Client
	h        *host
	endpoint string // {base}_batch
	base     string // the prefix of every item URL, cut off to make its line
	header   http.Header

	mu         sync.Mutex
	queue      []*item
	added      uint64 // items ever queued: the collector sees the queue grow by it
	collecting bool
}

// item is one queued fetch.
type item struct {
	line string // the URL relative to base
	url  string // the whole URL, for resolving Link
	res  chan itemResult
	// Under batcher.mu:
	gone bool   // its waiter left
	b    *batch // once sent
}

type itemResult struct {
	raw *composer.Raw
	err error
}

// batch is one batch request's items.
type batch struct {
	items  []*item
	live   int // waiters still waiting, under batcher.mu
	ctx    context.Context
	cancel context.CancelFunc
}

// batchBase returns the base and batch endpoint of a batching fragment's
// template: the URL up to the last "/" of its path, which must be
// literal (no placeholder) and end in a fragment name.
func batchBase(t *Template) (base, endpoint string, err error) {
	lit := ""
	if len(t.parts) > 0 && t.parts[0].param == "" {
		lit = t.parts[0].lit
	}
	end := strings.IndexByte(lit, '?')
	if end < 0 {
		if len(t.parts) != 1 {
			return "", "", fmt.Errorf("remote: url %q: batch: a batched URL's path cannot hold a placeholder", t.raw)
		}
		end = len(lit)
	}
	path := lit[:end]
	i := strings.Index(path, "://")
	j := strings.LastIndexByte(path, '/')
	if i < 0 || j <= i+2 || strings.IndexByte(path[i+3:], '/') < 0 {
		return "", "", fmt.Errorf("remote: url %q: batch: want a path ending in the fragment's name, as /fragments/NAME", t.raw)
	}
	if path[j+1:] == "" {
		return "", "", fmt.Errorf("remote: url %q: batch: want a path ending in the fragment's name, as /fragments/NAME", t.raw)
	}
	return path[:j+1], path[:j+1] + "_batch", nil
}

// batcher returns the batcher of endpoint, made on first use.
func (c *Client) batcher(base, endpoint string) (*batcher, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	h := c.host(u)
	c.mu.Lock()
	defer c.mu.Unlock()
	if bt := c.batchers[endpoint]; bt != nil {
		return bt, nil
	}
	bt := &batcher{c: c, h: h, endpoint: endpoint, base: base,
		header: http.Header{"Accept": {batchType}, "Accept-Encoding": {"identity"}, "Content-Type": {"text/plain; charset=utf-8"}, "User-Agent": {c.opts.UserAgent},
			// A batch only reads: the Transport may retry it on a
			// connection the server had closed, like a GET. A nil
			// value is not sent.
			"X-Idempotency-Key": nil}}
	c.batchers[endpoint] = bt
	return bt, nil
}

// fetchBatched is Fetch for a batching fragment: rawURL, made by the
// fragment's template, starts with bt.base.
func (c *Client) fetchBatched(ctx context.Context, bt *batcher, rawURL string) (*composer.Raw, error) {
	h := bt.h
	line, ok := strings.CutPrefix(rawURL, bt.base)
	// A line the server would refuse would fail its whole batch: it
	// fails alone, here.
	if !ok || checkBatchLine(line) != nil {
		return nil, &Error{Host: h.name, Kind: KindBadParams, Err: errors.New("invalid URL")}
	}
	h.stats.requests.Add(1)
	raw, err := bt.fetch(ctx, line, rawURL)
	if err != nil {
		h.count(err)
		return nil, err
	}
	h.stats.ok.Add(1)
	return raw, nil
}

func (bt *batcher) fetch(ctx context.Context, line, rawURL string) (*composer.Raw, error) {
	h := bt.h
	done, err := h.enter(ctx)
	if err != nil {
		return nil, err
	}
	it := &item{line: line, url: rawURL, res: make(chan itemResult, 1)}
	bt.enqueue(it)
	var r itemResult
	select {
	case r = <-it.res:
	case <-ctx.Done():
		bt.leave(it)
		select {
		case r = <-it.res: // it came as the deadline passed
		default:
			r.err = &Error{Host: h.name, Kind: KindTimeout, Err: ctx.Err()}
		}
	}
	h.exit(done, r.err)
	return r.raw, r.err
}

func (bt *batcher) enqueue(it *item) {
	bt.mu.Lock()
	bt.queue = append(bt.queue, it)
	bt.added++
	if len(bt.queue) >= bt.c.opts.MaxBatchItems {
		b := bt.take()
		bt.mu.Unlock()
		go bt.send(b)
		return
	}
	start := !bt.collecting
	bt.collecting = true
	bt.mu.Unlock()
	if start {
		go bt.collect()
	}
}

// leave is called by a waiter whose context ended: its item is skipped if
// not yet sent, and the batch cancelled if it was its last waiter.
func (bt *batcher) leave(it *item) {
	bt.mu.Lock()
	it.gone = true
	b := it.b
	last := false
	if b != nil {
		b.live--
		last = b.live == 0
	}
	bt.mu.Unlock()
	if last {
		b.cancel()
	}
}

// collect sends the queue once it stops growing for BatchWindow, or after
// BatchMaxWait, and goes on while items keep coming.
func (bt *batcher) collect() {
	window, maxWait := bt.c.opts.BatchWindow, bt.c.opts.BatchMaxWait
	t0 := time.Now()
	bt.mu.Lock()
	seen := bt.added
	bt.mu.Unlock()
	for {
		time.Sleep(window)
		bt.mu.Lock()
		// Still growing (a batch sent at the cap meanwhile counts as
		// growth): wait on, unless collecting for too long.
		if bt.added != seen && time.Since(t0) < maxWait {
			seen = bt.added
			bt.mu.Unlock()
			continue
		}
		seen = bt.added
		var b *batch
		if len(bt.queue) > 0 {
			b = bt.take()
		}
		left := len(bt.queue)
		if left == 0 {
			bt.collecting = false
		}
		bt.mu.Unlock()
		if b != nil {
			go bt.send(b)
		}
		if left == 0 {
			return
		}
		t0 = time.Now()
	}
}

// take makes a batch of the first MaxBatchItems queued items whose
// waiters are still there. bt.mu is held.
func (bt *batcher) take() *batch {
	k := min(len(bt.queue), bt.c.opts.MaxBatchItems)
	b := &batch{items: make([]*item, 0, k)}
	for _, it := range bt.queue[:k] {
		if !it.gone {
			it.b = b
			b.items = append(b.items, it)
		}
	}
	m := copy(bt.queue, bt.queue[k:])
	clear(bt.queue[m:])
	bt.queue = bt.queue[:m]
	b.live = len(b.items)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// send posts b and delivers each item's result as its frame arrives.
func (bt *batcher) send(b *batch) {
	defer b.cancel()
	if len(b.items) == 0 {
		return
	}
	bt.h.stats.batches.Add(1)
	d := &delivery{b: b, host: bt.h.name, delivered: make([]bool, len(b.items))}
	resp, err := bt.post(b)
	if err != nil {
		d.failRest(KindNetwork, err)
		return
	}
	defer resp.Body.Close()
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || ct != batchType {
		drain(resp)
		d.refused(resp.StatusCode)
		return
	}
	bt.deliver(d, resp.Body)
}

// post sends b's items as one batch request, a line each, and returns its
// response, with a body.
func (bt *batcher) post(b *batch) (*http.Response, error) {
	var body bytes.Buffer
	for _, it := range b.items {
		body.WriteString(it.line)
		body.WriteByte('\n')
	}
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, bt.endpoint, bytes.NewReader(body.Bytes()))
	if err != nil {
		return nil, err
	}
	if bt.c.tr != nil {
		req.Header = bt.header
	} else {
		req.Header = bt.header.Clone()
	}
	resp, err := bt.c.rt.RoundTrip(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	return resp, nil
}

// deliver reads the frames of b's response from body and delivers each
// item's result as its frame arrives; a malformed or truncated response
// fails the items whose frames have not arrived.
func (bt *batcher) deliver(d *delivery, body io.Reader) {
	b := d.b
	br := bufio.NewReaderSize(body, 16<<10)
	for left := len(b.items); left > 0; left-- {
		f, err := readFrame(br, len(b.items), bt.c.opts.MaxBodyBytes)
		if err == io.EOF {
			err = errors.New("batch: response ended before every item")
		}
		if err == nil && d.delivered[f.index] {
			err = errors.New("batch: an item came twice")
		}
		if err != nil {
			d.failRest(KindNetwork, err)
			return
		}
		d.delivered[f.index] = true
		it := b.items[f.index]
		raw, err := bt.c.judge(bt.h, it.url, &f)
		it.res <- itemResult{raw, err}
	}
}

// delivery is what a batch's items have been sent: delivered[i] once item
// i has its result.
type delivery struct {
	b         *batch
	host      string
	delivered []bool
}

// failRest fails the items that have no result yet with an error of kind
// k, or with a timeout once the batch was cancelled.
func (d *delivery) failRest(k Kind, err error) {
	if d.b.ctx.Err() != nil {
		k, err = KindTimeout, d.b.ctx.Err()
	}
	for i, it := range d.b.items {
		if !d.delivered[i] {
			it.res <- itemResult{err: &Error{Host: d.host, Kind: k, Err: err}}
		}
	}
}

// refused fails every item with the status of a response that is not a
// batch's: a 200 of another type is 415, the host does not speak the
// protocol.
func (d *delivery) refused(status int) {
	if status == http.StatusOK {
		status = http.StatusUnsupportedMediaType // not a batch: the host does not speak it
	}
	for i, it := range d.b.items {
		d.delivered[i] = true
		it.res <- itemResult{err: &Error{Host: d.host, Kind: KindStatus, Status: status,
			Err: errors.New("batch request refused")}}
	}
}

// judge turns an item's frame into a *composer.Raw or an *Error, with the
// rules of a GET's response (see Client.response).
func (c *Client) judge(h *host, rawURL string, f *frame) (*composer.Raw, error) {
	if err := statusError(h.name, f.status); err != nil {
		return nil, err
	}
	switch {
	case !htmlType(f.contentType):
		return nil, &Error{Host: h.name, Kind: KindNotHTML, Err: fmt.Errorf("Content-Type %s", quoteHeader(f.contentType))}
	case f.oversized:
		return nil, &Error{Host: h.name, Kind: KindOversized, Err: fmt.Errorf("body over %d bytes", c.opts.MaxBodyBytes)}
	}
	body, err := htmlText(h.name, f.body)
	if err != nil {
		return nil, err
	}
	fr := ParseFreshness(f.cache, time.Now())
	raw := &composer.Raw{HTML: body, HasFreshness: fr.Known, Fresh: fr.Fresh, Stale: fr.Stale}
	if len(f.link) > 0 {
		if u, err := url.Parse(rawURL); err == nil {
			raw.Assets = ParseLink(f.link, u)
		}
	}
	return raw, nil
}
