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
//  4. A 200, 203 or 204 response of HTML text (text/html, or plain text,
//     or no type; in no content coding; UTF-8 without control
//     characters) under the size cap becomes a *composer.Raw carrying the
//     freshness of its caching headers (Cache-Control, Expires,
//     Set-Cookie, Vary) and the assets of its Link header. Anything else
//     is an *Error of a Kind: its body never reaches the page, and the
//     include falls back like a local fragment that failed.
//
// Each remote host has its own circuit breaker, connection limit and
// in-flight limit, shared by every fragment that lives there, so that a
// dead service costs nothing but its fallbacks.
//
// Failures are counted where they belong, in the manner of Envoy's outlier
// detection. The host's breaker counts only what says the host is unwell:
// connections refused, reset or cut, and 5xx answers. A timeout
// is the slowness of one fragment's URL, never the host's: it is counted
// for its fragment (FragmentStats) and the composer falls back for that
// include (and holds its key for the fragment's fail hold), while the
// host's other URLs go on being fetched and cached. Waiting for one of
// the host's in-flight slots past the call's deadline is the composer's
// own queueing: counted as KindQueued, never against the host.
package remote

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

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
	// BreakerFailures is how many consecutive host failures (refused,
	// reset or never-completed connections, 5xx answers; never a call's
	// timeout nor a 429) open a host's breaker. 0 means 5.
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
	// h2c sends the requests of fragments whose service speaks HTTP/2
	// over cleartext (Config.H2C); made on first use (see h2cTransport).
	h2c     http.RoundTripper
	h2cTr   *http.Transport
	h2cOnce sync.Once
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

// New returns a Client.
func New(o Options) *Client { return newDialing(o, nil) }

// newDialing is New, dialing through dial when it is not nil (tests).
func newDialing(o Options, dial dialFunc) *Client {
	o = o.withDefaults()
	c := &Client{opts: o, log: o.Logger, hosts: map[hostKey]*host{}, batchers: map[string]*batcher{}, frags: map[string]*fragment{},
		header: http.Header{"Accept": {"text/html"}, "Accept-Encoding": {"identity"}, "User-Agent": {o.UserAgent}}}
	c.rt = o.Transport
	if c.rt == nil {
		if dial == nil {
			dial = (&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
		}
		c.tr = newTransport(o, dial)
		c.rt = c.tr
	}
	if o.WrapTransport != nil {
		c.rt = o.WrapTransport(c.rt)
	}
	return c
}

// withDefaults returns o with each field left zero set to its default.
func (o Options) withDefaults() Options {
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
	return o
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// newTransport returns the Client's own transport for o (with its
// defaults): only configured URLs, directly, through dial, with o's bounds
// per host.
func newTransport(o Options, dial dialFunc) *http.Transport {
	return &http.Transport{
		Proxy:                  nil, // only configured URLs, directly
		DialContext:            creditDial(dial),
		MaxConnsPerHost:        o.MaxConnsPerHost,
		MaxIdleConnsPerHost:    o.MaxConnsPerHost,
		MaxIdleConns:           0, // no global cap: per host only
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    o.DialTimeout,
		ExpectContinueTimeout:  0,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
		// No Accept-Encoding: gzip (requests say identity). Fragments
		// are small and near, so compressing and inflating them costs
		// both sides more CPU than it saves; and the size cap then
		// counts the bytes as sent. A response encoded all the same is
		// refused (KindEncoded), never inflated.
		DisableCompression: true,
	}
}

// creditDial returns dial, pausing the clock of the composer's call that
// dials (the request whose context the Transport dials under) while the
// new connection is made: that time is not the fragment's
// (composer.Pause). A dial is bounded by Options.DialTimeout. Requests
// that wait for a connection another one is making are paused by
// connWait.
func creditDial(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		resume := composer.Pause(ctx)
		defer resume()
		return dial(ctx, network, addr)
	}
}

// Close closes the idle connections. In-flight requests are not affected.
func (c *Client) Close() {
	if c.tr != nil {
		c.tr.CloseIdleConnections()
	}
	c.h2cOnce.Do(func() {}) // no h2c transport is made after Close
	if c.h2cTr != nil {
		c.h2cTr.CloseIdleConnections()
	}
}

// h2cTransport returns the transport of services that speak HTTP/2 over
// cleartext with prior knowledge (Config.H2C): the Client's own, with
// HTTP/2 as its only protocol for http:// URLs, so that a page's requests
// to such a service are streams of one connection (or a few: a new one
// when the server's stream limit is reached) instead of one connection
// each. A Transport given in Options serves these requests too.
func (c *Client) h2cTransport() http.RoundTripper {
	c.h2cOnce.Do(func() {
		if c.tr == nil {
			c.h2c = c.rt
			return
		}
		tr := c.tr.Clone()
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
		// A few connections carry every stream, one for each hundred of
		// the host's slots (MaxInFlightPerHost, 128 by default: two):
		// servers allow 100–250 streams a connection or more. Without
		// this bound, a cold page's requests, arriving before the first
		// connection is made, dial one each.
		tr.MaxConnsPerHost = max(2, c.opts.MaxInFlightPerHost/100)
		tr.MaxIdleConnsPerHost = tr.MaxConnsPerHost
		c.h2cTr, c.h2c = tr, tr
		if c.opts.WrapTransport != nil {
			c.h2c = c.opts.WrapTransport(tr)
		}
	})
	return c.h2c
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
