package remote

import (
	"sort"
)

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
