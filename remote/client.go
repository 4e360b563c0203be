// Package remote runs fragments as small HTTP services: a Client that
// fetches a configured fragment URL as a composer.Spec (so that a remote
// fragment gets the same budget, singleflight, caching, stale and fallback
// rules as a local one), and a Handler that serves registered local
// fragments over HTTP (cmd/fragmentd).
//
// The lifecycle of a remote fragment:
//
//  1. Package server makes one Client and hands its Spec method to the
//     configuration (config.Registry.Remote).
//  2. For each fragment that site.yaml declares remote, the configuration
//     calls Spec with the URL template, the params and the includes; the
//     Spec replaces the local fragment of the same name, if any.
//  3. The composer calls the Spec's Render like any other: it expands the
//     template with the include's validated params and GETs that URL, and
//     only that URL, under the call's deadline. A fragment declared
//     batch: true sends that URL, relative, as one line of a batch request
//     to its host instead, with the host's other batching fragments' of
//     the same few hundred microseconds (batchclient.go, batch.go); it is
//     judged by the same rules and keeps its own deadline.
//  4. A 2xx response with valid UTF-8 HTML under the size cap becomes a
//     *composer.Raw carrying the freshness of its Cache-Control header and
//     the assets of its Link header. Anything else is an *Error: its body
//     never reaches the page, and the include falls back like a local
//     fragment that failed.
//
// Each remote host has its own circuit breaker, connection limit and
// in-flight limit, shared by every fragment that lives there, so that a
// dead service costs nothing but its fallbacks.
//
// Failures are counted where they belong, in the manner of Envoy's outlier
// detection. The host's breaker counts only what says the host is unwell:
// connections refused, reset or cut, and 5xx (or 429) answers. A timeout
// is the slowness of one fragment's URL, never the host's: it is counted
// for its fragment (FragmentStats) and the composer falls back for that
// include (and holds its key for the fragment's fail hold), while the
// host's other URLs go on being fetched and cached. Waiting for one of
// the host's in-flight slots past the call's deadline is the composer's
// own queueing: counted as KindQueued, never against the host.
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sony/gobreaker/v2"

	"github.com/broadsheet/broadsheet/composer"
)

// DefaultMaxConnsPerHost is the default bound of a host's connections and
// requests in flight: wide enough that a page of a thousand includes of a
// 5 ms service is fetched in eight rounds (about 40 ms), narrow enough
// that the service, and this process, answer each request quickly rather
// than all of them late. A cold 1,000-include page from a loopback
// service on two busy cores kept 5–20% of its includes at 1,024 in
// flight (the rest over their 50 ms timeout), 55–80% at 128 and 85–95%
// at 64.
const DefaultMaxConnsPerHost = 128

// Options configure a Client. The zero value is usable.
type Options struct {
	// MaxConnsPerHost bounds the connections to one host, dialing, active
	// and idle; idle ones are kept up to the same number, so that a page
	// of a thousand includes of one service reuses its connections on the
	// next cold page. 0 means DefaultMaxConnsPerHost.
	MaxConnsPerHost int
	// MaxInFlightPerHost bounds the requests to one host in flight. The
	// composer queues a fragment's calls for them (Spec.Group) before the
	// call's timeout starts, within its page's budget; a call made through
	// Fetch directly waits no longer than its deadline. 0 means
	// MaxConnsPerHost.
	MaxInFlightPerHost int
	// MaxBodyBytes caps a response body; a longer one is an error, read no
	// further than the cap. 0 means composer.DefaultLimits.MaxFragmentBytes.
	MaxBodyBytes int
	// BreakerFailures is how many consecutive host failures (refused or
	// reset connections, 5xx or 429 answers; never timeouts) open a
	// host's breaker. 0 means 5.
	BreakerFailures int
	// BreakerOpen is how long an open breaker fails requests at once
	// before letting a trickle through to probe the host. 0 means 1s.
	BreakerOpen time.Duration
	// BreakerProbes is the trickle a half-open breaker lets through: that
	// many requests at most, and that many successes in a row close it
	// (one failure opens it again). 0 means 3.
	BreakerProbes int
	// DialTimeout bounds connecting to a host. 0 means 1s.
	DialTimeout time.Duration
	// UserAgent is sent with every request. "" means "broadsheet-composer".
	UserAgent string
	// Transport replaces the Client's own transport (tests). When it is
	// set MaxConnsPerHost and DialTimeout are not used.
	Transport http.RoundTripper
	// WrapTransport, when set, wraps the transport every request goes
	// through (package server: otelhttp's, when tracing is on, to send the
	// W3C traceparent). The wrapper must not modify the requests it is
	// given (otelhttp's clones them before adding its headers). nil costs
	// nothing per request.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// BatchWindow is how long a host's batch of requests (fragments
	// declared batch: true) waits for one more item: it is sent once its
	// queue has not grown for this long. 0 means 150µs.
	BatchWindow time.Duration
	// BatchMaxWait bounds how long a batch keeps collecting while items
	// keep coming. 0 means 2ms.
	BatchMaxWait time.Duration
	// MaxBatchItems caps the items of one batch request; it must not be
	// above the server's cap. 0 means DefaultMaxBatchItems.
	MaxBatchItems int
	Logger        *slog.Logger
}

// Client fetches remote fragments. It is safe for concurrent use; one
// Client serves every remote fragment of a composer, across configuration
// reloads, so that connections, breakers and counters are kept.
type Client struct {
	opts Options
	// rt sends every request, directly rather than through an
	// http.Client: redirects are never followed and there are no cookies,
	// so the http.Client's per-request work (copying the headers for a
	// redirect, the redirect loop) would be wasted.
	rt http.RoundTripper
	tr *http.Transport // nil when Options.Transport was given
	// header is the fixed header of every request, shared by all of them
	// (a RoundTripper does not modify its request); cloned per request
	// for a Transport given in Options, which might.
	header http.Header
	log    *slog.Logger
	mu     sync.RWMutex
	hosts  map[hostKey]*host
	// batchers are the batch queues, by batch endpoint (see batchclient.go).
	batchers map[string]*batcher
	// frags are the counters of each remote fragment, by name, kept across
	// configuration reloads like the hosts'.
	frags map[string]*fragment
}

// fragment is what the Client keeps per remote fragment: its URL template
// (as last configured) and its own counters, so that one URL's timeouts
// show where they belong.
type fragment struct {
	url   atomic.Pointer[string]
	stats counters
}

// hostKey identifies a remote host (scheme://host:port) without building
// a string per request.
type hostKey struct{ scheme, host string }

func (k hostKey) String() string { return k.scheme + "://" + k.host }

// host is what the Client keeps per remote host (scheme://host:port).
type host struct {
	name    string
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	slots   chan struct{}
	stats   counters
}

type counters struct {
	requests atomic.Int64
	ok       atomic.Int64
	errs     [nKinds]atomic.Int64
	inFlight atomic.Int64
	batches  atomic.Int64
}

// New returns a Client.
func New(o Options) *Client {
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if o.MaxInFlightPerHost <= 0 {
		o.MaxInFlightPerHost = o.MaxConnsPerHost
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = composer.DefaultLimits.MaxFragmentBytes
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = time.Second
	}
	if o.BreakerProbes <= 0 {
		o.BreakerProbes = 3
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = time.Second
	}
	if o.BatchWindow <= 0 {
		o.BatchWindow = 150 * time.Microsecond
	}
	if o.BatchMaxWait <= 0 {
		o.BatchMaxWait = 2 * time.Millisecond
	}
	if o.MaxBatchItems <= 0 {
		o.MaxBatchItems = DefaultMaxBatchItems
	}
	if o.UserAgent == "" {
		o.UserAgent = "broadsheet-composer"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Client{opts: o, log: o.Logger, hosts: map[hostKey]*host{}, batchers: map[string]*batcher{}, frags: map[string]*fragment{},
		header: http.Header{"Accept": {"text/html"}, "User-Agent": {o.UserAgent}}}
	c.rt = o.Transport
	if c.rt == nil {
		c.tr = &http.Transport{
			Proxy:                  nil, // only configured URLs, directly
			DialContext:            (&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxConnsPerHost:        o.MaxConnsPerHost,
			MaxIdleConnsPerHost:    o.MaxConnsPerHost,
			MaxIdleConns:           0, // no global cap: per host only
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    o.DialTimeout,
			ExpectContinueTimeout:  0,
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
			// No Accept-Encoding: gzip. Fragments are small and near, so
			// compressing and inflating them costs both sides more CPU
			// than it saves; and the size cap then counts the bytes as
			// sent.
			DisableCompression: true,
		}
		c.rt = c.tr
	}
	if o.WrapTransport != nil {
		c.rt = o.WrapTransport(c.rt)
	}
	return c
}

// Close closes the idle connections. In-flight requests are not affected.
func (c *Client) Close() {
	if c.tr != nil {
		c.tr.CloseIdleConnections()
	}
}

// Kind classifies a failed fetch, for counters and logs.
type Kind uint8

// The kinds of failure.
const (
	KindNetwork     Kind = iota // connecting or reading failed
	KindTimeout                 // the call's deadline passed
	KindStatus                  // a non-2xx, non-3xx status
	KindRedirect                // a 3xx status (never followed)
	KindOversized               // the body is over MaxBodyBytes
	KindInvalidUTF8             // the body is not UTF-8
	KindBreakerOpen             // the host's breaker refused the call
	KindBadParams               // the params cannot form a URL
	KindQueued                  // the call's deadline passed while it waited for one of the host's in-flight slots
	nKinds
)

var kindNames = [...]string{"network", "timeout", "status", "redirect", "oversized", "invalid_utf8", "breaker_open", "bad_params", "queued"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Kinds lists every kind, in order.
func Kinds() []Kind {
	out := make([]Kind, nKinds)
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// Error is a failed fetch. Its text names the host, the kind and, for a
// status, the code; never anything from the response body.
type Error struct {
	Host   string
	Kind   Kind
	Status int   // for KindStatus and KindRedirect
	Err    error // the underlying error, if any
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindStatus, KindRedirect:
		return fmt.Sprintf("remote: %s: %s %d", e.Host, e.Kind, e.Status)
	}
	if e.Err != nil {
		return fmt.Sprintf("remote: %s: %s: %v", e.Host, e.Kind, e.Err)
	}
	return fmt.Sprintf("remote: %s: %s", e.Host, e.Kind)
}

func (e *Error) Unwrap() error { return e.Err }

// notFound is the error of a 404: like a local fragment's ErrNotFound, it
// makes a primary include's page a 404.
type notFound struct{ e *Error }

func (n notFound) Error() string   { return n.e.Error() }
func (n notFound) Unwrap() []error { return []error{n.e, composer.ErrNotFound} }

// errNotTried tells the breaker about a call that never reached the host
// (it waited for an in-flight slot until its deadline): it counts neither
// way.
var errNotTried = errors.New("remote: not tried")

// hostFailure reports whether err says the host is unwell (the breaker
// counts it as a failure): it could not be reached or its connection
// broke, or it answered 5xx or 429. A 4xx, a redirect or a bad body is
// the host answering (a success, as far as the host's health goes).
func hostFailure(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return true
	}
	switch e.Kind {
	case KindNetwork:
		return true
	case KindStatus:
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return false
}

// notCounted reports whether the breaker should ignore err altogether:
// a call that never reached the host, or one that timed out — the
// slowness of one URL, or of the composer itself on a saturated machine,
// says nothing of the host's health (Envoy's outlier detection likewise
// ejects on errors and 5xx, not on slow responses). A host that accepts
// connections and never answers costs each include its timeout, and each
// key its fragment's fail hold, not every other URL of the host.
func notCounted(err error) bool {
	if err == errNotTried {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Kind == KindTimeout
}

func (c *Client) host(u *url.URL) *host {
	key := hostKey{u.Scheme, u.Host}
	c.mu.RLock()
	h := c.hosts[key]
	c.mu.RUnlock()
	if h != nil {
		return h
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h = c.hosts[key]
	if h == nil {
		h = &host{name: u.Host, slots: make(chan struct{}, c.opts.MaxInFlightPerHost)}
		failures := uint32(c.opts.BreakerFailures)
		h.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        key.String(),
			MaxRequests: uint32(c.opts.BreakerProbes),
			Timeout:     c.opts.BreakerOpen,
			// Trip on a run of host failures, as Envoy's consecutive
			// gateway failures do. Timeouts are not counted (notCounted),
			// so a run means refused or broken connections or 5xx
			// answers in a row: a host that dies after a healthy minute
			// opens its breaker within a run, not once its failures
			// outweigh a window of past successes.
			ReadyToTrip: func(n gobreaker.Counts) bool {
				return n.ConsecutiveFailures >= failures
			},
			IsExcluded: notCounted,
			IsSuccessful: func(err error) bool {
				return err == nil || !hostFailure(err)
			},
			OnStateChange: func(name string, from, to gobreaker.State) {
				c.log.Warn("remote: breaker", "host", name, "from", from.String(), "to", to.String())
			},
		})
		c.hosts[key] = h
	}
	return h
}

// Fetch GETs rawURL under ctx and returns its body as a *composer.Raw, or
// an *Error. It sends no cookie and no credential, follows no redirect,
// reads at most MaxBodyBytes+1 bytes, and returns when ctx ends, whatever
// the host does.
func (c *Client) Fetch(ctx context.Context, rawURL string) (*composer.Raw, error) {
	req, h, err := c.request(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	h.stats.requests.Add(1)
	raw, err := c.fetch(ctx, h, req)
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

// count counts a failed fetch by its kind.
func (h *host) count(err error) { h.stats.count(err) }

// count counts a failed fetch by its kind.
func (s *counters) count(err error) {
	var e *Error
	if errors.As(err, &e) {
		s.errs[e.Kind].Add(1)
	}
}

// fragment returns the counters of the remote fragment name, recording
// its URL template.
func (c *Client) fragment(name, url string) *fragment {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.frags[name]
	if f == nil {
		f = &fragment{}
		c.frags[name] = f
	}
	f.url.Store(&url)
	return f
}

// fetch sends req to h under its breaker and in-flight limit and reads the
// response.
//
// It is kept small, and everything else out of it, on purpose: the
// goroutine that runs it (the composer's, one per call) starts with a
// small stack, and the frames between it and the Transport's deepest call
// decide whether that stack must grow — be copied — on every request.
func (c *Client) fetch(ctx context.Context, h *host, req *http.Request) (*composer.Raw, error) {
	done, err := h.enter(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.rt.RoundTrip(req)
	raw, err := c.response(ctx, h, req, resp, err)
	h.exit(done, err)
	return raw, err
}

// enter admits one request to h, batched or not: past its breaker, then
// into one of its in-flight slots (waiting for one until ctx ends). The
// request then calls exit with its outcome.
func (h *host) enter(ctx context.Context) (done func(error), err error) {
	done, err = h.breaker.Allow()
	if err != nil {
		return nil, &Error{Host: h.name, Kind: KindBreakerOpen}
	}
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		done(errNotTried)
		return nil, &Error{Host: h.name, Kind: KindQueued, Err: errors.New("waiting for an in-flight slot")}
	}
	h.stats.inFlight.Add(1)
	return done, nil
}

// exit gives back the slot enter took and tells the breaker the outcome.
func (h *host) exit(done func(error), err error) {
	h.stats.inFlight.Add(-1)
	<-h.slots
	done(err)
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

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// HostStats are the counters of one remote host since the Client started.
type HostStats struct {
	Host     string // scheme://host:port
	Requests int64  // fragment requests, batched or not
	Batches  int64  // batch requests (each of many fragment requests)
	OK       int64
	InFlight int64
	Errors   map[string]int64 // by Kind name, every kind present
	Breaker  string           // closed, half-open or open
}

// FragmentStats are the counters of one remote fragment since the Client
// started: its requests and failures by kind, wherever it was fetched
// from. A fragment's timeouts are counted here and in its host's Errors,
// but only host failures move the host's breaker.
type FragmentStats struct {
	Fragment string
	URL      string // the URL template, as last configured
	Requests int64
	OK       int64
	InFlight int64
	Errors   map[string]int64 // by Kind name, every kind present
}

// FragmentStats returns the counters of every remote fragment configured
// since the Client started, sorted by name.
func (c *Client) FragmentStats() []FragmentStats {
	c.mu.Lock()
	out := make([]FragmentStats, 0, len(c.frags))
	for name, f := range c.frags {
		s := FragmentStats{Fragment: name, URL: *f.url.Load(), Requests: f.stats.requests.Load(), OK: f.stats.ok.Load(),
			InFlight: f.stats.inFlight.Load(), Errors: map[string]int64{}}
		for k := range f.stats.errs {
			s.Errors[Kind(k).String()] = f.stats.errs[k].Load()
		}
		out = append(out, s)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Fragment < out[j].Fragment })
	return out
}

// Stats returns the counters of every host the Client has fetched from,
// sorted by host.
func (c *Client) Stats() []HostStats {
	c.mu.Lock()
	hosts := make([]*host, 0, len(c.hosts))
	keys := make([]string, 0, len(c.hosts))
	for k, h := range c.hosts {
		hosts = append(hosts, h)
		keys = append(keys, k.String())
	}
	c.mu.Unlock()
	out := make([]HostStats, len(hosts))
	for i, h := range hosts {
		s := HostStats{Host: keys[i], Requests: h.stats.requests.Load(), Batches: h.stats.batches.Load(), OK: h.stats.ok.Load(),
			InFlight: h.stats.inFlight.Load(), Errors: map[string]int64{}, Breaker: h.breaker.State().String()}
		for k := range h.stats.errs {
			s.Errors[Kind(k).String()] = h.stats.errs[k].Load()
		}
		out[i] = s
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}
