// Package cdn tells a CDN in front of the composers to drop the pages an
// event or a purge changed, by surrogate key (see composer/httpcache for
// the keys a page carries).
//
// The Purger speaks Varnish's xkey convention: an HTTP PURGE of its URL
// carrying the keys, space separated, in an "xkey" header
// (deploy/varnish/broadsheet.vcl answers it with xkey.purge). A CDN with
// another purge API (Fastly's POST /service/…/purge) takes a Purger of its
// own behind composer.Purger.
package cdn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options tune a Purger. The zero value is usable.
type Options struct {
	// Client sends the purges; nil: a client of its own.
	Client *http.Client
	// Timeout bounds one purge request; 0: 2 s.
	Timeout time.Duration
	// Logger receives failed purges; nil: slog.Default().
	Logger *slog.Logger
	// Redis, when set, is the Redis every composer instance of the
	// deployment shares: their Purgers then hold a lease there so that
	// one of them sends the purges of a change, not each (see lease.go).
	// Nil: this Purger sends every purge it is given.
	Redis redis.UniversalClient
	// LeaseKey is the lease's Redis key; "": DefaultLeaseKey.
	LeaseKey string
}

// Stats are a Purger's counters.
type Stats struct {
	Requests atomic.Int64 // purge requests the CDN answered 2xx
	Keys     atomic.Int64 // keys in them
	Failed   atomic.Int64 // purge requests that failed (error or non-2xx)
	Dropped  atomic.Int64 // keys dropped because too many were waiting
	Skipped  atomic.Int64 // keys left to the instance holding the lease
}

// Limits of one Purger.
const (
	// maxPending is how many distinct keys may wait to be sent; past it a
	// key is dropped (and counted): the CDN then keeps that page until
	// its own expiry.
	maxPending = 1 << 16
	// maxBatchBytes bounds the xkey header of one request, well within
	// the 8 KiB Varnish allows a request header line.
	maxBatchBytes = 4 << 10
)

// Purger sends purges by surrogate key, in the background. Keys given while
// a request is in flight are gathered into the next one: a burst of events
// costs a few requests, each sent as soon as the previous one is answered.
// It is safe for concurrent use.
type Purger struct {
	url     string
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger
	stats   Stats

	mu      sync.Mutex
	pending []string
	queued  map[string]struct{}
	// sent is closed and replaced whenever a batch has been answered,
	// for Flush.
	sent   chan struct{}
	idle   bool
	wake   chan struct{}
	closed chan struct{}
	done   chan struct{}
	once   sync.Once

	lease     *lease // nil without Options.Redis
	leaseDone chan struct{}
}

// New returns a Purger sending PURGE requests to rawURL (http or https).
func New(rawURL string, opts Options) (*Purger, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cdn: purge URL %q: want http://host[:port]/path", rawURL)
	}
	p := &Purger{url: u.String(), client: opts.Client, timeout: opts.Timeout, log: opts.Logger,
		queued: map[string]struct{}{}, wake: make(chan struct{}, 1), closed: make(chan struct{}),
		done: make(chan struct{}), sent: make(chan struct{}), idle: true}
	if p.client == nil {
		p.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}
	}
	if p.timeout <= 0 {
		p.timeout = 2 * time.Second
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if opts.Redis != nil {
		p.lease, p.leaseDone = newLease(opts.Redis, opts.LeaseKey), make(chan struct{})
		go func() {
			defer close(p.leaseDone)
			p.lease.run(p.closed)
		}()
	}
	go p.loop()
	return p, nil
}

// Stats returns the Purger's counters.
func (p *Purger) Stats() *Stats { return &p.stats }

// Purge queues keys to be purged; it never blocks. A key already waiting
// is not queued twice.
func (p *Purger) Purge(keys ...string) {
	p.mu.Lock()
	for _, k := range keys {
		if _, ok := p.queued[k]; ok || k == "" {
			continue
		}
		if len(p.pending) >= maxPending {
			p.stats.Dropped.Add(1)
			continue
		}
		p.queued[k] = struct{}{}
		p.pending = append(p.pending, k)
	}
	p.idle = p.idle && len(p.pending) == 0
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush waits until every key queued before it was sent (or failed), or
// ctx ends.
func (p *Purger) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		idle, sent := p.idle, p.sent
		p.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-sent:
		case <-p.done:
			return errors.New("cdn: purger closed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close sends what is queued, gives up the lease if it holds it, then
// stops. Purge after Close is ignored.
func (p *Purger) Close() {
	p.once.Do(func() { close(p.closed) })
	<-p.done
	if p.leaseDone != nil {
		<-p.leaseDone
	}
}

func (p *Purger) loop() {
	defer close(p.done)
	for {
		select {
		case <-p.wake:
		case <-p.closed:
			p.sendAll()
			return
		}
		p.sendAll()
	}
}

// sendAll sends the pending keys, a batch at a time.
func (p *Purger) sendAll() {
	for {
		p.mu.Lock()
		batch, n := []string(nil), 0
		for len(p.pending) > 0 && (len(batch) == 0 || n+1+len(p.pending[0]) <= maxBatchBytes) {
			k := p.pending[0]
			p.pending = p.pending[1:]
			delete(p.queued, k)
			batch = append(batch, k)
			n += len(k) + 1
		}
		if len(batch) == 0 {
			p.idle = true
			close(p.sent)
			p.sent = make(chan struct{})
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if p.lease != nil && p.lease.skip() {
			p.stats.Skipped.Add(int64(len(batch)))
			continue
		}
		p.send(batch)
	}
}

// send makes one purge request for keys.
func (p *Purger) send(keys []string) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PURGE", p.url, nil)
	if err != nil {
		p.fail(keys, err)
		return
	}
	v := keys[0]
	for _, k := range keys[1:] {
		v += " " + k
	}
	req.Header.Set("xkey", v)
	res, err := p.client.Do(req)
	if err != nil {
		p.fail(keys, err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		p.fail(keys, fmt.Errorf("cdn: purge answered %s", res.Status))
		return
	}
	p.stats.Requests.Add(1)
	p.stats.Keys.Add(int64(len(keys)))
}

func (p *Purger) fail(keys []string, err error) {
	p.stats.Failed.Add(1)
	p.log.Warn("cdn: purge failed: the CDN keeps these pages until they expire", "keys", len(keys), "first", keys[0], "err", err)
}
