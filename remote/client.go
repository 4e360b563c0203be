// Package remote runs fragments as small HTTP services: a Client that
// fetches a configured fragment URL as a composer.Spec (so that a remote
// fragment gets the same budget, singleflight, caching, stale and fallback
// rules as a local one), and a Handler that serves registered local
// fragments over HTTP (cmd/fragmentd).
//
// The lifecycle of a remote fragment:
//
//  1. cmd/composer makes one Client and hands its Spec method to the
//     configuration (config.Registry.Remote).
//  2. For each fragment that site.yaml declares remote, the configuration
//     calls Spec with the URL template, the params and the includes; the
//     Spec replaces the local fragment of the same name, if any.
//  3. The composer calls the Spec's Render like any other: it expands the
//     template with the include's validated params and GETs that URL, and
//     only that URL, under the call's deadline.
//  4. A 2xx response with valid UTF-8 HTML under the size cap becomes a
//     *composer.Raw carrying the freshness of its Cache-Control header and
//     the assets of its Link header. Anything else is an *Error: its body
//     never reaches the page, and the include falls back like a local
//     fragment that failed.
//
// Each remote host has its own circuit breaker, connection limit and
// in-flight limit, shared by every fragment that lives there, so that a
// dead service costs nothing but its fallbacks.
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

// Options configure a Client. The zero value is usable.
type Options struct {
	// MaxConnsPerHost bounds the connections to one host, dialing, active
	// and idle; idle ones are kept up to the same number, so that a page
	// of a thousand includes of one service reuses its connections on the
	// next cold page. 0 means 1024.
	MaxConnsPerHost int
	// MaxInFlightPerHost bounds the requests to one host in flight; more
	// wait (no longer than their deadline) for a slot. 0 means
	// MaxConnsPerHost.
	MaxInFlightPerHost int
	// MaxBodyBytes caps a response body; a longer one is an error, read no
	// further than the cap. 0 means composer.DefaultLimits.MaxFragmentBytes.
	MaxBodyBytes int
	// BreakerFailures is how many consecutive failures of a host open its
	// breaker, provided they are also at least half of its requests of the
	// last 10 seconds. 0 means 5.
	BreakerFailures int
	// BreakerOpen is how long an open breaker fails requests at once
	// before letting one through to probe the host. 0 means 5s.
	BreakerOpen time.Duration
	// DialTimeout bounds connecting to a host. 0 means 1s.
	DialTimeout time.Duration
	// UserAgent is sent with every request. "" means "broadsheet-composer".
	UserAgent string
	// Transport replaces the Client's own transport (tests). When it is
	// set MaxConnsPerHost and DialTimeout are not used.
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Client fetches remote fragments. It is safe for concurrent use; one
// Client serves every remote fragment of a composer, across configuration
// reloads, so that connections, breakers and counters are kept.
type Client struct {
	opts  Options
	http  *http.Client
	tr    *http.Transport // nil when Options.Transport was given
	log   *slog.Logger
	mu    sync.Mutex
	hosts map[string]*host
}

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
}

// New returns a Client.
func New(o Options) *Client {
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = 1024
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
		o.BreakerOpen = 5 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "broadsheet-composer"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Client{opts: o, log: o.Logger, hosts: map[string]*host{}}
	rt := o.Transport
	if rt == nil {
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
		}
		rt = c.tr
	}
	c.http = &http.Client{
		Transport: rt,
		// Redirects are never followed: only configured URLs are fetched.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
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
	nKinds
)

var kindNames = [...]string{"network", "timeout", "status", "redirect", "oversized", "invalid_utf8", "breaker_open", "bad_params"}

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
// counts it): it could not be reached, was too slow, or answered 5xx or
// 429. A 4xx, a redirect or a bad body is the host answering.
func hostFailure(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return true
	}
	switch e.Kind {
	case KindNetwork, KindTimeout:
		return true
	case KindStatus:
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return false
}

func (c *Client) host(u *url.URL) *host {
	key := u.Scheme + "://" + u.Host
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hosts[key]
	if h == nil {
		h = &host{name: u.Host, slots: make(chan struct{}, c.opts.MaxInFlightPerHost)}
		failures := uint32(c.opts.BreakerFailures)
		h.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        key,
			MaxRequests: 1,
			Timeout:     c.opts.BreakerOpen,
			// Trip on a run of failures that are also most of the recent
			// requests: a page of a thousand includes of a healthy host
			// can bring a run of a few failures that alone would open
			// the breaker on every fragment of that host.
			Interval:     10 * time.Second,
			BucketPeriod: time.Second,
			ReadyToTrip: func(n gobreaker.Counts) bool {
				return n.ConsecutiveFailures >= failures && 2*n.TotalFailures >= n.Requests
			},
			IsExcluded: func(err error) bool { return err == errNotTried },
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
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Host: "?", Kind: KindBadParams, Err: errors.New("invalid URL")}
	}
	h := c.host(u)
	h.stats.requests.Add(1)
	raw, err := c.fetch(ctx, h, u)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			h.stats.errs[e.Kind].Add(1)
		}
		return nil, err
	}
	h.stats.ok.Add(1)
	return raw, nil
}

func (c *Client) fetch(ctx context.Context, h *host, u *url.URL) (*composer.Raw, error) {
	fail := func(k Kind, err error) *Error { return &Error{Host: h.name, Kind: k, Err: err} }
	done, err := h.breaker.Allow()
	if err != nil {
		return nil, fail(KindBreakerOpen, nil)
	}
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		done(errNotTried)
		return nil, fail(KindTimeout, errors.New("waiting for an in-flight slot"))
	}
	h.stats.inFlight.Add(1)
	raw, err := c.do(ctx, h, u)
	h.stats.inFlight.Add(-1)
	<-h.slots
	done(err)
	if err != nil {
		return nil, err
	}
	return raw, nil
}

func (c *Client) do(ctx context.Context, h *host, u *url.URL) (*composer.Raw, error) {
	fail := func(k Kind, err error) error {
		if k == KindNetwork && ctx.Err() != nil {
			k, err = KindTimeout, ctx.Err()
		}
		return &Error{Host: h.name, Kind: k, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail(KindBadParams, err)
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fail(KindNetwork, unwrapURLError(err))
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
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 {
		buf.Grow(int(n))
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, int64(max)+1)); err != nil {
		return nil, fail(KindNetwork, err)
	}
	if buf.Len() > max {
		return nil, fail(KindOversized, fmt.Errorf("body over %d bytes", max))
	}
	body := buf.Bytes()
	if !utf8.Valid(body) {
		return nil, fail(KindInvalidUTF8, nil)
	}
	fr := ParseCacheControl(resp.Header.Values("Cache-Control"), resp.Header.Get("Age"))
	return &composer.Raw{
		HTML:         body,
		HasFreshness: fr.Known,
		Fresh:        fr.Fresh,
		Stale:        fr.Stale,
		Assets:       ParseLink(resp.Header.Values("Link"), u),
	}, nil
}

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
	Requests int64
	OK       int64
	InFlight int64
	Errors   map[string]int64 // by Kind name, every kind present
	Breaker  string           // closed, half-open or open
}

// Stats returns the counters of every host the Client has fetched from,
// sorted by host.
func (c *Client) Stats() []HostStats {
	c.mu.Lock()
	hosts := make([]*host, 0, len(c.hosts))
	keys := make([]string, 0, len(c.hosts))
	for k, h := range c.hosts {
		hosts = append(hosts, h)
		keys = append(keys, k)
	}
	c.mu.Unlock()
	out := make([]HostStats, len(hosts))
	for i, h := range hosts {
		s := HostStats{Host: keys[i], Requests: h.stats.requests.Load(), OK: h.stats.ok.Load(),
			InFlight: h.stats.inFlight.Load(), Errors: map[string]int64{}, Breaker: h.breaker.State().String()}
		for k := range h.stats.errs {
			s.Errors[Kind(k).String()] = h.stats.errs[k].Load()
		}
		out[i] = s
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}
