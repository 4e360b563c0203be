package metrics

import (
	"math"
	"sync"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// The rolling window is a ring of one-second buckets. Each bucket holds
// outcome and tier counts and two fixed-bound latency histograms (every
// include, and fragment calls only), so that a snapshot sums at most
// windowSeconds buckets and percentiles cost a walk over latencyBuckets
// counts, whatever the traffic.
const (
	windowSeconds  = 300
	latencyBuckets = 62
	nOutcomes      = 7 // len(composer.Outcomes())
	nTiers         = 4 // TierNone, TierL1, TierStore, TierCall
)

// bounds are the upper bounds of the latency histogram buckets: 100 µs
// growing by 25 % per bucket, up to about 100 s; the last bucket is
// unbounded. Percentiles interpolate linearly inside a bucket, so their
// error is a fraction of 25 %.
var bounds = func() [latencyBuckets]time.Duration {
	var b [latencyBuckets]time.Duration
	v := float64(100 * time.Microsecond)
	for i := range b {
		b[i] = time.Duration(v)
		v *= 1.25
	}
	b[latencyBuckets-1] = math.MaxInt64
	return b
}()

func bucketOf(d time.Duration) int {
	lo, hi := 0, latencyBuckets-1
	for lo < hi {
		mid := (lo + hi) / 2
		if d <= bounds[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

type hist [latencyBuckets]uint32

type second struct {
	sec      int64
	outcomes [nOutcomes]uint32
	tiers    [nTiers]uint32
	all      hist
	calls    hist
}

// window is the rolling figures of one fragment. Its methods are safe for
// concurrent use.
type window struct {
	mu   sync.Mutex
	ring [windowSeconds]second
	// last error, under mu
	lastErr   error
	lastErrAt time.Time
}

// isCall reports whether the include's duration is a fragment call's:
// the fragment ran for it (in time or not).
func isCall(ev *composer.IncludeEvent) bool {
	switch ev.Outcome {
	case composer.OutcomeMiss, composer.OutcomeTimeout, composer.OutcomeError:
		return true
	}
	return false
}

// addBatch adds a run of the fragment's includes, all at now, under one
// lock.
func (w *window) addBatch(now time.Time, evs []composer.IncludeEvent) {
	sec := now.Unix()
	w.mu.Lock()
	s := &w.ring[sec%windowSeconds]
	if s.sec != sec {
		*s = second{sec: sec}
	}
	for i := range evs {
		ev := &evs[i]
		b := bucketOf(ev.Duration)
		n := uint32(ev.N())
		if int(ev.Outcome) < nOutcomes {
			s.outcomes[ev.Outcome] += n
		}
		if int(ev.Tier) < nTiers {
			s.tiers[ev.Tier] += n
		}
		s.all[b] += n
		if isCall(ev) {
			s.calls[b] += n
		}
		if ev.Err != nil && (ev.Outcome == composer.OutcomeError || ev.Outcome == composer.OutcomeTimeout) {
			w.lastErr, w.lastErrAt = ev.Err, now
		}
	}
	w.mu.Unlock()
}

// Snapshot is one fragment's figures over the rolling window.
type Snapshot struct {
	// Window is the span the figures cover.
	Window time.Duration
	// Includes is the number of includes of the fragment that settled.
	Includes int64
	// Outcomes counts includes by outcome, indexed by composer.Outcome.
	Outcomes [nOutcomes]int64
	// Tiers counts includes by where their content came from, indexed by
	// composer.Tier.
	Tiers [nTiers]int64
	// P50, P95 and P99 are include latencies, whatever served them.
	P50, P95, P99 time.Duration
	// Calls counts the includes the fragment ran for (miss, timeout,
	// error); CallP50… are their latencies, the figures a timeout is
	// tuned from. A timed-out call counts with its timeout as latency.
	Calls                     int64
	CallP50, CallP95, CallP99 time.Duration
	// LastErr is the last timeout or error in the window, if any.
	LastErr   string
	LastErrAt time.Time
}

// Outcome returns the count of outcome o.
func (s *Snapshot) Outcome(o composer.Outcome) int64 {
	if int(o) < nOutcomes {
		return s.Outcomes[o]
	}
	return 0
}

// L1Ratio is the share of looked-up includes served by the in-process tier.
// Includes that never looked anything up (kill switch, placeholders) do not
// count. It is NaN when nothing was looked up.
func (s *Snapshot) L1Ratio() float64 {
	looked := s.Tiers[composer.TierL1] + s.Tiers[composer.TierStore] + s.Tiers[composer.TierCall] +
		s.Outcomes[composer.OutcomeTimeout] + s.Outcomes[composer.OutcomeError]
	return ratio(s.Tiers[composer.TierL1], looked)
}

// StoreRatio is the share of L1 misses that the shared tier served. It is
// NaN when no include reached the shared tier.
func (s *Snapshot) StoreRatio() float64 {
	looked := s.Tiers[composer.TierStore] + s.Tiers[composer.TierCall] +
		s.Outcomes[composer.OutcomeTimeout] + s.Outcomes[composer.OutcomeError]
	return ratio(s.Tiers[composer.TierStore], looked)
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return math.NaN()
	}
	return float64(n) / float64(d)
}

func (w *window) snapshot(now time.Time) Snapshot {
	var all, calls [latencyBuckets]int64
	snap := Snapshot{Window: windowSeconds * time.Second}
	min := now.Unix() - windowSeconds
	w.mu.Lock()
	for i := range w.ring {
		s := &w.ring[i]
		if s.sec <= min || s.sec > now.Unix() {
			continue
		}
		for o, n := range s.outcomes {
			snap.Outcomes[o] += int64(n)
		}
		for t, n := range s.tiers {
			snap.Tiers[t] += int64(n)
		}
		for b := range all {
			all[b] += int64(s.all[b])
			calls[b] += int64(s.calls[b])
		}
	}
	if w.lastErr != nil && w.lastErrAt.Unix() > min {
		snap.LastErr, snap.LastErrAt = w.lastErr.Error(), w.lastErrAt
	}
	w.mu.Unlock()
	snap.Includes, snap.P50, snap.P95, snap.P99 = quantiles(&all)
	snap.Calls, snap.CallP50, snap.CallP95, snap.CallP99 = quantiles(&calls)
	return snap
}

func quantiles(h *[latencyBuckets]int64) (n int64, p50, p95, p99 time.Duration) {
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0, 0, 0, 0
	}
	return n, quantile(h, n, 0.50), quantile(h, n, 0.95), quantile(h, n, 0.99)
}

// quantile interpolates linearly inside the bucket holding rank q·n.
func quantile(h *[latencyBuckets]int64, n int64, q float64) time.Duration {
	rank := q * float64(n)
	var seen float64
	for b, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			var lo time.Duration
			if b > 0 {
				lo = bounds[b-1]
			}
			hi := bounds[b]
			if b == latencyBuckets-1 {
				return lo // unbounded: report its lower bound
			}
			frac := (rank - seen) / float64(c)
			return lo + time.Duration(frac*float64(hi-lo))
		}
		seen += float64(c)
	}
	return bounds[latencyBuckets-2]
}

// SuggestTimeout proposes a fragment timeout from its observed call p99:
// p99 × 1.5, rounded up to 5 ms, at least 10 ms and at most ceiling (the
// smallest budget of the pages that use the fragment). It returns 0 when
// there is nothing to go on (p99 is 0).
func SuggestTimeout(p99, ceiling time.Duration) time.Duration {
	if p99 <= 0 {
		return 0
	}
	const step = 5 * time.Millisecond
	d := p99 * 3 / 2
	d = (d + step - 1) / step * step
	d = max(d, 10*time.Millisecond)
	if ceiling > 0 {
		d = min(d, ceiling)
	}
	return d
}
