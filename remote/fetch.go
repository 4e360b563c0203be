package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/broadsheet/broadsheet/composer"
)

// Fetch GETs rawURL under ctx and returns its body as a *composer.Raw, or
// an *Error. It sends no cookie and no credential, follows no redirect,
// reads at most MaxBodyBytes+1 bytes, and returns when ctx ends, whatever
// the host does.
func (c *Client) Fetch(ctx context.Context, rawURL string) (*composer.Raw, error) {
	return c.get(ctx, c.rt, rawURL)
}

// get is Fetch through rt.
func (c *Client) get(ctx context.Context, rt http.RoundTripper, rawURL string) (*composer.Raw, error) {
	req, h, err := c.request(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	h.stats.requests.Add(1)
	raw, err := c.fetch(ctx, h, rt, req)
	if err != nil {
		h.count(err)
		return nil, err
	}
	h.stats.ok.Add(1)
	return raw, nil
}

// request makes the request for rawURL, with the one parse of rawURL, and
// finds its host. It is not inlined, so that its frame is gone before the
// round trip (see fetch).
//
//go:noinline
func (c *Client) request(ctx context.Context, rawURL string) (*http.Request, *host, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return nil, nil, &Error{Host: "?", Kind: KindBadParams, Err: errors.New("invalid URL")}
	}
	if c.tr != nil {
		req.Header = c.header
	} else {
		req.Header = c.header.Clone()
	}
	return req, c.host(req.URL), nil
}

// fetch sends req to h through rt, under h's breaker and in-flight limit,
// and reads the response.
//
// It is kept small, and everything else out of it, on purpose: the
// goroutine that runs it (the composer's, one per call) starts with a
// small stack, and the frames between it and the Transport's deepest call
// decide whether that stack must grow — be copied — on every request.
func (c *Client) fetch(ctx context.Context, h *host, rt http.RoundTripper, req *http.Request) (*composer.Raw, error) {
	done, err := h.enter(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := rt.RoundTrip(req)
	raw, err := c.response(ctx, h, req, resp, err)
	h.exit(done, err)
	return raw, err
}

// response turns the outcome of a round trip into a *composer.Raw or an
// *Error, reading and closing the body. It is not inlined, so that its
// frame is not under the round trip (see fetch).
//
//go:noinline
func (c *Client) response(ctx context.Context, h *host, req *http.Request, resp *http.Response, err error) (*composer.Raw, error) {
	fail := func(k Kind, err error) error {
		if k == KindNetwork && ctx.Err() != nil {
			k, err = KindTimeout, ctx.Err()
		}
		return &Error{Host: h.name, Kind: k, Err: err}
	}
	if err != nil {
		return nil, fail(KindNetwork, unwrapURLError(err))
	}
	if resp.Body == nil { // a RoundTripper of Options may leave it nil
		resp.Body = http.NoBody
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		drain(resp.Body)
		return nil, &Error{Host: h.name, Kind: KindRedirect, Status: resp.StatusCode}
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		drain(resp.Body)
		e := &Error{Host: h.name, Kind: KindStatus, Status: resp.StatusCode}
		if resp.StatusCode == http.StatusNotFound {
			return nil, notFound{e}
		}
		return nil, e
	}
	max := c.opts.MaxBodyBytes
	if resp.ContentLength > int64(max) {
		return nil, fail(KindOversized, fmt.Errorf("Content-Length %d over %d bytes", resp.ContentLength, max))
	}
	body, err := readBody(resp.Body, resp.ContentLength, max)
	switch {
	case errors.Is(err, errOversized):
		return nil, fail(KindOversized, fmt.Errorf("body over %d bytes", max))
	case err != nil:
		return nil, fail(KindNetwork, err)
	}
	if !utf8.Valid(body) {
		return nil, fail(KindInvalidUTF8, nil)
	}
	fr := ParseCacheControl(resp.Header.Values("Cache-Control"), resp.Header.Get("Age"))
	return &composer.Raw{
		HTML:         body,
		HasFreshness: fr.Known,
		Fresh:        fr.Fresh,
		Stale:        fr.Stale,
		Assets:       ParseLink(resp.Header.Values("Link"), req.URL),
	}, nil
}

var (
	errOversized = errors.New("remote: body over the size cap")
	errLonger    = errors.New("remote: body longer than its Content-Length")
)

// readBody reads body to its end, at most max bytes, into a slice of its
// own (the cache keeps it). With a Content-Length n (at most max) that is
// one allocation of n+1 bytes and, from net/http, one read: its body
// reports the end with the last bytes. Without one, the body is read into
// a pooled buffer, at most max+1 bytes, and copied out.
func readBody(body io.Reader, n int64, max int) ([]byte, error) {
	if n >= 0 {
		if n == 0 {
			_, err := io.ReadFull(body, make([]byte, 1))
			switch err {
			case io.EOF:
				return nil, nil
			case nil:
				return nil, errLonger
			}
			return nil, err
		}
		// The one spare byte tells a body longer than announced.
		buf := make([]byte, n+1)
		k, err := io.ReadFull(body, buf)
		switch {
		case err == nil:
			return nil, errLonger
		case err == io.ErrUnexpectedEOF && int64(k) == n:
			return buf[:n:n], nil
		}
		return nil, err // shorter than announced, or the read failed
	}
	bp := bodyBufs.Get().(*bytes.Buffer)
	defer func() {
		if bp.Cap() <= maxPooledBuf {
			bp.Reset()
			bodyBufs.Put(bp)
		}
	}()
	if _, err := bp.ReadFrom(io.LimitReader(body, int64(max)+1)); err != nil {
		return nil, err
	}
	if bp.Len() > max {
		return nil, errOversized
	}
	if bp.Len() == 0 {
		return nil, nil
	}
	return bytes.Clone(bp.Bytes()), nil
}

// maxPooledBuf is the largest buffer kept for reuse.
const maxPooledBuf = 256 << 10

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// drain reads a little of an unwanted body so that its connection can be
// reused, and no more.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 4<<10)) }
