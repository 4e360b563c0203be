package web

import (
	"sync"
	"time"
)

// backoff throttles failures (wrong admin tokens) per client and overall.
// A client's first free failures cost nothing; each one after them shuts
// the client out for base, then twice as long, up to ceiling. The same
// rule counts every client's failures together, with more free ones, so
// that guesses spread over many addresses are slowed down too. A count is
// forgiven once its backoff has been over for ceiling with no failure
// (waiting out each backoff is not quiet enough). Refusals are
// answered at once (the caller says when to come back), never by sleeping:
// a guess costs the server no goroutine held.
//
// A backoff holds at most maxClients counts; beyond, new clients share
// one count. It is safe for concurrent use.
type backoff struct {
	perClient, overall backoffRule
	maxClients         int
	now                func() time.Time

	mu      sync.Mutex
	clients map[string]*failures
	all     failures
}

type backoffRule struct {
	free          int
	base, ceiling time.Duration
}

type failures struct {
	n     int
	last  time.Time
	until time.Time
}

const overflowClient = "(other clients)"

// loginBackoff is the admin token's: 5 free failures per client, then 1 s
// doubling to 15 min; 50 free failures overall, then 1 s doubling to 1 min.
func loginBackoff(now func() time.Time) *backoff {
	if now == nil {
		now = time.Now
	}
	return &backoff{
		perClient:  backoffRule{free: 5, base: time.Second, ceiling: 15 * time.Minute},
		overall:    backoffRule{free: 50, base: time.Second, ceiling: time.Minute},
		maxClients: 10000,
		now:        now,
		clients:    map[string]*failures{},
	}
}

// wait returns how long client must wait before its next attempt (0: it
// may try now).
func (b *backoff) wait(client string) time.Duration {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.all.until.Sub(now)
	if f := b.clients[b.key(client, false)]; f != nil {
		w = max(w, f.until.Sub(now))
	}
	return max(w, 0)
}

// failed counts a failure of client.
func (b *backoff) failed(client string) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.key(client, true)
	f := b.clients[k]
	if f == nil {
		f = &failures{}
		b.clients[k] = f
	}
	f.add(now, b.perClient)
	b.all.add(now, b.overall)
}

// succeeded forgets client's failures (not the overall count).
func (b *backoff) succeeded(client string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.clients, client)
}

// key is client's key in b.clients, or overflowClient when the map is
// full (and, adding, its forgiven counts could not be swept).
func (b *backoff) key(client string, adding bool) string {
	if _, ok := b.clients[client]; ok || len(b.clients) < b.maxClients {
		return client
	}
	if adding {
		now := b.now()
		for k, f := range b.clients {
			if f.forgiven(now, b.perClient) {
				delete(b.clients, k)
			}
		}
		if len(b.clients) < b.maxClients {
			return client
		}
	}
	return overflowClient
}

// forgiven reports whether f's count is forgotten by now: ceiling has
// passed since its last failure and since its backoff ended.
func (f *failures) forgiven(now time.Time, r backoffRule) bool {
	return now.Sub(f.last) >= r.ceiling && now.Sub(f.until) >= r.ceiling
}

func (f *failures) add(now time.Time, r backoffRule) {
	if f.forgiven(now, r) {
		f.n = 0
	}
	f.n++
	f.last = now
	if f.n > r.free {
		d := r.ceiling
		if shift := f.n - r.free - 1; shift < 30 {
			d = min(r.base<<shift, r.ceiling)
		}
		f.until = now.Add(d)
	}
}
