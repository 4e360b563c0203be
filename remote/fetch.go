package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/broadsheet/broadsheet/composer"
)

// Fetch GETs rawURL under ctx and returns its body as a *composer.Raw, or
// an *Error. It sends no cookie and no credential, follows no redirect,
// reads at most MaxBodyBytes+1 bytes, and returns when ctx ends, whatever
// the host does.
func (c *Client) Fetch(ctx context.Context, rawURL string) (*composer.Raw, error) {
	return c.get(ctx, c.rt, c.sharesConns(), rawURL)
}

// get is Fetch through rt; shared says the request may wait for a
// connection another request is making (see connWait).
func (c *Client) get(ctx context.Context, rt http.RoundTripper, shared bool, rawURL string) (*composer.Raw, error) {
	req, h, cw, err := c.request(ctx, rawURL, shared)
	if err != nil {
		return nil, err
	}
	h.stats.requests.Add(1)
	raw, err := c.fetch(ctx, h, rt, req)
	cw.end()
	if err != nil {
		h.count(err)
		return nil, err
	}
	h.stats.ok.Add(1)
	return raw, nil
}

// request makes the request for rawURL, with the one parse of rawURL, and
// finds its host. With shared, the call's clock stops while the request
// waits for a connection (see connWait; the caller ends the wait once the
// round trip is over, and cw is nil without shared). It is not inlined, so
// that its frame is gone before the round trip (see fetch).
//
//go:noinline
func (c *Client) request(ctx context.Context, rawURL string, shared bool) (req *http.Request, h *host, cw *connWait, err error) {
	if shared {
		ctx, cw = waitingForConn(ctx)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return nil, nil, nil, &Error{Host: "?", Kind: KindBadParams, Err: errors.New("invalid URL")}
	}
	if c.tr != nil {
		req.Header = c.header
	} else {
		req.Header = c.header.Clone()
	}
	return req, c.host(req.URL), cw, nil
}

// sharesConns reports whether requests through the Client's own transport
// may wait for connections other requests are making: when a host has
// fewer connections than requests in flight.
func (c *Client) sharesConns() bool { return c.opts.MaxConnsPerHost < c.opts.MaxInFlightPerHost }

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
	if err := statusError(h.name, resp.StatusCode); err != nil {
		drain(resp)
		return nil, err
	}
	if err := headerError(h.name, resp.Header); err != nil {
		drain(resp)
		return nil, err
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
	body, err = htmlText(h.name, body)
	if err != nil {
		return nil, err
	}
	fr := ParseFreshness(cacheHeaders(resp.Header), time.Now())
	return &composer.Raw{
		HTML:         body,
		HasFreshness: fr.Known,
		Fresh:        fr.Fresh,
		Stale:        fr.Stale,
		Assets:       ParseLink(resp.Header.Values("Link"), req.URL),
	}, nil
}

// statusError returns the error of a response's status, or nil for one
// whose body is the fragment: 200 and 203, and 204 (empty). A 3xx is a
// redirect (never followed) but for 304, an answer to a condition the
// client never sends; a 404 or 410 is like a local fragment's
// ErrNotFound; any other status, a 2xx other than those three among them
// (206 is part of a body, 202 a promise of one), is KindStatus.
func statusError(host string, status int) error {
	switch {
	case status == http.StatusOK, status == http.StatusNonAuthoritativeInfo, status == http.StatusNoContent:
		return nil
	case status == http.StatusNotFound, status == http.StatusGone:
		return notFound{&Error{Host: host, Kind: KindStatus, Status: status}}
	case status >= 300 && status < 400 && status != http.StatusNotModified:
		return &Error{Host: host, Kind: KindRedirect, Status: status}
	}
	return &Error{Host: host, Kind: KindStatus, Status: status}
}

// headerError returns the error of a response whose headers say that its
// body is not HTML text as sent: a Content-Encoding other than identity
// (KindEncoded: the client asks for none and decodes none, so that the
// size cap counts the bytes as sent and no compression bomb is ever
// inflated), or a Content-Type other than HTML or plain text
// (KindNotHTML; see htmlType).
func headerError(host string, h http.Header) error {
	for _, v := range h["Content-Encoding"] {
		for coding := range strings.SplitSeq(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return &Error{Host: host, Kind: KindEncoded, Err: fmt.Errorf("Content-Encoding %s, not asked for", quoteHeader(v))}
			}
		}
	}
	for _, v := range h["Content-Type"] {
		if !htmlType(v) {
			return &Error{Host: host, Kind: KindNotHTML, Err: fmt.Errorf("Content-Type %s", quoteHeader(v))}
		}
	}
	return nil
}

// htmlType reports whether a Content-Type value may be a fragment's:
// text/html or application/xhtml+xml, text/plain (what Go's servers send
// for HTML they do not recognize as such, "<li>…" for one), or none. An
// image, JSON, application/octet-stream or any other type is not.
func htmlType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "", "text/html", "application/xhtml+xml", "text/plain":
		return true
	}
	return false
}

// htmlText returns body as HTML text, or the error of a body that is
// not: not UTF-8 (KindInvalidUTF8), or holding a NUL (KindNotHTML), which
// binary data and UTF-16 text do and HTML never does. Other control
// characters the HTML syntax forbids (see controlAt) are dropped, in a
// copy: a stray vertical tab or terminal escape pasted into a CMS costs
// the reader nothing they could have seen, and the fragment is kept.
func htmlText(host string, body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, &Error{Host: host, Kind: KindInvalidUTF8}
	}
	i := controlAt(body)
	if i < 0 {
		return body, nil
	}
	out := make([]byte, i, len(body))
	copy(out, body[:i])
	for i < len(body) {
		if body[i] == 0 {
			return nil, &Error{Host: host, Kind: KindNotHTML, Err: fmt.Errorf("a NUL at byte %d", i)}
		}
		j := i + 1
		if body[i] == 0xc2 {
			j++ // a C1 control: two bytes
		}
		k := controlAt(body[j:])
		if k < 0 {
			k = len(body) - j
		}
		out = append(out, body[j:j+k]...)
		i = j + k
	}
	return out, nil
}

// control marks the bytes that begin a control character in UTF-8: the C0
// controls but tab, line feed, form feed and carriage return (the HTML
// syntax's white space), DEL, and 0xC2, which begins the C1 controls
// (U+0080–U+009F) and the rest of Latin-1 (U+00A0–U+00BF).
var control = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = c != '\t' && c != '\n' && c != '\f' && c != '\r'
	}
	t[0x7f], t[0xc2] = true, true
	return t
}()

// controlAt returns the index of the first control character of the
// valid UTF-8 text b (one the HTML syntax forbids: a NUL, another C0
// control but white space, DEL or a C1 control), or -1.
func controlAt(b []byte) int {
	for i, c := range b {
		if control[c] && (c != 0xc2 || i+1 < len(b) && b[i+1] < 0xa0) {
			return i
		}
	}
	return -1
}

// quoteHeader quotes a header value for an error's text: at most 40 bytes
// of it, escaped.
func quoteHeader(v string) string {
	if len(v) > 40 {
		return strconv.Quote(v[:40]) + "…"
	}
	return strconv.Quote(v)
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

// drain reads a little of an unwanted response's body so that its
// connection can be reused, and no more. The body of a 101 Switching
// Protocols is not read at all: it is the connection itself, which the
// Transport has handed over and no longer closes when the request's
// context ends; a service that switched and went quiet would hold the
// read, and the call, for as long as it liked.
func drain(resp *http.Response) {
	if resp.StatusCode < 200 {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
}
