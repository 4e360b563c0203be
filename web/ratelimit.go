package web

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rates limits how often each client (a clientKey) may do something, with
// a token bucket per client (golang.org/x/time/rate), and optionally how
// often all clients together may. The table of clients is bounded: a
// client idle long enough to have refilled its bucket is no different
// from a new one and is swept when room is needed; past maxClients, new
// clients share one bucket. A rates is safe for concurrent use.
type rates struct {
	every      rate.Limit
	burst      int
	maxClients int
	now        func() time.Time
	all        *rate.Limiter // nil: no overall limit

	mu      sync.Mutex
	clients map[string]*rateEntry
}

type rateEntry struct {
	lim  *rate.Limiter
	last time.Time
}

// newRates allows each client perSecond on average and burst at once;
// overall > 0 bounds all clients together to overall a second (bursts of
// overallBurst).
func newRates(perSecond float64, burst int, overall float64, overallBurst int, now func() time.Time) *rates {
	r := &rates{every: rate.Limit(perSecond), burst: max(burst, 1), maxClients: 100000, now: now, clients: map[string]*rateEntry{}}
	if overall > 0 {
		r.all = rate.NewLimiter(rate.Limit(overall), max(overallBurst, 1))
	}
	return r
}

// allow takes a token of client's bucket (and the overall one) if there
// is one; otherwise it takes nothing and says how long until there is.
func (r *rates) allow(client string) (ok bool, retry time.Duration) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entry(client, now)
	mine := e.lim.ReserveN(now, 1)
	if d := mine.DelayFrom(now); d > 0 {
		mine.CancelAt(now)
		return false, d
	}
	if r.all != nil {
		all := r.all.ReserveN(now, 1)
		if d := all.DelayFrom(now); d > 0 {
			all.CancelAt(now)
			mine.CancelAt(now)
			return false, d
		}
	}
	e.last = now
	return true, 0
}

const overflowRates = "(other clients)"

func (r *rates) entry(client string, now time.Time) *rateEntry {
	if e, ok := r.clients[client]; ok {
		return e
	}
	if len(r.clients) >= r.maxClients {
		refill := time.Duration(float64(r.burst) / float64(r.every) * float64(time.Second))
		for k, e := range r.clients {
			if now.Sub(e.last) >= refill {
				delete(r.clients, k)
			}
		}
		if len(r.clients) >= r.maxClients {
			client = overflowRates
			if e, ok := r.clients[client]; ok {
				return e
			}
		}
	}
	e := &rateEntry{lim: rate.NewLimiter(r.every, r.burst), last: now}
	r.clients[client] = e
	return e
}

// limitClients answers 429 with Retry-After to a client past its request
// rate (Options.ClientRate), before anything else is done for it.
func (s *Server) limitClients(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, retry := s.requests.allow(s.clientKey(r)); !ok {
			retryAfter(w, retry)
			s.errorPage(w, r, http.StatusTooManyRequests, "You are asking too often: please try again in a moment.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
