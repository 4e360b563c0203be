package remote

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"

	"github.com/sony/gobreaker/v2"
)

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

// count counts a failed fetch by its kind.
func (h *host) count(err error) { h.stats.count(err) }

// count counts a failed fetch by its kind.
func (s *counters) count(err error) {
	var e *Error
	if errors.As(err, &e) {
		s.errs[e.Kind].Add(1)
	}
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
