package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// Herd is the thundering-herd scenario (3).
type Herd struct {
	Instances int `json:"instances"`
	Requests  int `json:"requests"`
	Includes  int `json:"includes_per_page"`
	// FeedLatency is each fragment call's latency: long enough for the
	// whole herd to arrive while the first calls run.
	FeedLatencyMS float64 `json:"feed_latency_ms"`
	// Entries is how many entries the cold herd left in Redis: the keys
	// the page has (one call per key is the ideal of either round).
	Entries int        `json:"entries"`
	Cold    *HerdRound `json:"cold"`
	Expired *HerdRound `json:"expired"`
}

// HerdRound is one release of the herd.
type HerdRound struct {
	Status map[int]int `json:"status"`
	// Shed503 splits the 503s by instance; Shed503P50 is their median
	// latency (ms): a quick shed or a wait for the whole budget.
	Shed503    []int                `json:"status_503_per_instance"`
	Shed503P50 float64              `json:"status_503_p50_ms"`
	Transport  int                  `json:"transport_errors"`
	Incomplete int                  `json:"incomplete"`
	TTLB       loadtest.Percentiles `json:"ttlb"`
	// Calls is broadsheet_fragment_calls_total's increase over both
	// instances; PerInstance splits it.
	Calls       float64   `json:"fragment_calls"`
	PerInstance []float64 `json:"fragment_calls_per_instance"`
	Refreshes   float64   `json:"background_refreshes"`
	// RemoteWaits are calls left to the other instance (it held the key's
	// lock), Takeovers those made after all (the lock went without a
	// result); RedisErrors and RedisRejected the Store calls that failed or
	// that the open breaker refused — a failed lock call lets an instance
	// call as if it held every lock.
	RemoteWaits float64 `json:"remote_waits"`
	// Abandoned are calls that passed their timeout (on two busy cores, a
	// call of 20 ms can); Refused calls refused for want of a slot.
	Abandoned float64 `json:"calls_past_timeout"`
	Takeovers float64 `json:"remote_takeovers"`
	// FailHolds are calls that failed and put their key on hold (no call
	// for it, on either instance, for its fail_hold); RemoteFailures keys
	// an instance found on hold by the other's failure.
	FailHolds      float64 `json:"fail_holds"`
	RemoteFailures float64 `json:"remote_failures"`
	RedisErrors    float64 `json:"redis_errors"`
	RedisRejected  float64 `json:"redis_rejected"`
	// RedisStarved are the Redis errors that were this process's own
	// slowness (not counted by the breaker).
	RedisStarved float64 `json:"redis_starved"`
	// Outcomes are the includes' outcomes over both instances
	// (broadsheet_include_duration_seconds_count by outcome).
	Outcomes map[string]float64 `json:"outcomes"`
}

// herdSettings: fresh for 3 s, stale for 10 minutes, so the second herd
// finds every entry stale; a failure hold of 1 s (off by default), as an
// operator protecting a backend from herds would set, so that a call that
// fails under the herd is not called again by every later request.
const herdFresh = 3 * time.Second

var herdSettings = map[string]map[string]string{
	"nav":        {"fresh": herdFresh.String(), "stale": "10m", "fail_hold": "1s"},
	"scoreboard": {"fresh": herdFresh.String(), "stale": "10m", "fail_hold": "1s"},
	"score":      {"fresh": herdFresh.String(), "stale": "10m", "fail_hold": "1s"},
	"footer":     {"fresh": herdFresh.String(), "stale": "10m", "fail_hold": "1s"},
}

func (e *env) herd(ctx context.Context) (*Herd, error) {
	o := e.o
	rp, rc, err := e.startRedis(ctx, "herd")
	if err != nil {
		return nil, err
	}
	defer rp.Stop()
	defer rc.Close()
	cfg, err := e.writeConfig("herd.yaml", herdSettings)
	if err != nil {
		return nil, err
	}
	const feedLatency = 20 * time.Millisecond
	var cps []*composerProc
	for _, name := range []string{"herd-a", "herd-b"} {
		// Without admission: the herd is every request reaching the
		// composer at once, not the share it admits.
		cp, err := e.startComposer(ctx, name, "-config", cfg, "-redis", redisURL(rc),
			"-feed-latency", feedLatency.String(), "-feed-slow-every", "0", "-max-pages", "0", "-includes-in-flight", "0")
		if err != nil {
			return nil, err
		}
		defer cp.Stop()
		cps = append(cps, cp)
	}
	h := &Herd{Instances: len(cps), Requests: o.herd, Includes: o.size + 3, FeedLatencyMS: loadtest.Millis(feedLatency)}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: o.herd, DisableCompression: true, IdleConnTimeout: 30 * time.Second}}
	defer client.CloseIdleConnections()
	// Open the connections first (on another page), so that the herd
	// measures the composer, not 1,000 TCP handshakes.
	warmConns(ctx, client, cps, o.herd)

	if h.Cold, err = release(ctx, client, cps, o.size, o.herd); err != nil {
		return nil, err
	}
	if h.Entries, err = countEntries(ctx, rc); err != nil {
		return nil, err
	}
	// Every entry is written a moment after the first herd: wait until
	// all of them are past their fresh time.
	time.Sleep(herdFresh + time.Second)
	warmConns(ctx, client, cps, o.herd)
	if h.Expired, err = release(ctx, client, cps, o.size, o.herd); err != nil {
		return nil, err
	}
	return h, nil
}

// countEntries counts the composer's entries in Redis: not its locks,
// generations, event stream or tuning keys.
func countEntries(ctx context.Context, rc *redis.Client) (int, error) {
	n := 0
	iter := rc.Scan(ctx, 0, "bs1:*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		switch {
		case strings.HasPrefix(k, "bs1:lock:"), strings.HasPrefix(k, "bs1:gen:"), strings.HasPrefix(k, "bs1:tuning"),
			k == "bs1:events", k == "bs1:overrides":
		default:
			n++
		}
	}
	return n, iter.Err()
}

// warmConns opens n keep-alive connections spread over the instances.
func warmConns(ctx context.Context, client *http.Client, cps []*composerProc, n int) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cps[i%len(cps)].base+"/healthz", nil)
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

// release sends n requests for the scores page at once (a barrier of
// goroutines), alternating between the instances, and counts what the
// composers did.
func release(ctx context.Context, client *http.Client, cps []*composerProc, size, n int) (*HerdRound, error) {
	before, err := scrapeAll(ctx, cps)
	if err != nil {
		return nil, err
	}
	r := &HerdRound{Status: map[int]int{}, Shed503: make([]int, len(cps))}
	hist, shed := r.herd(ctx, client, cps, size, n)
	time.Sleep(time.Second) // background refreshes and write-backs settle
	after, err := scrapeAll(ctx, cps)
	if err != nil {
		return nil, err
	}
	r.TTLB = hdrPercentiles(hist)
	if len(shed) > 0 {
		sortDurations(shed)
		r.Shed503P50 = loadtest.Millis(shed[len(shed)/2])
	}
	r.countCalls(before, after)
	return r, nil
}

// herd sends the n requests, each from its own goroutine held at a gate
// until all are ready, and counts their answers into r; it returns their
// latencies and those of the 503 answers.
func (r *HerdRound) herd(ctx context.Context, client *http.Client, cps []*composerProc, size, n int) (*hdrhistogram.Histogram, []time.Duration) {
	var (
		gate = make(chan struct{})
		wg   sync.WaitGroup
		mu   sync.Mutex
		hist = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
		shed []time.Duration
	)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cps[i%len(cps)].pageURL(size), nil)
			<-gate
			t0 := time.Now()
			resp, err := client.Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Transport++
				return
			}
			r.Status[resp.StatusCode]++
			if resp.StatusCode == http.StatusServiceUnavailable {
				r.Shed503[i%len(cps)]++
				shed = append(shed, d)
			}
			if !strings.HasSuffix(strings.TrimSpace(string(body)), "</html>") {
				r.Incomplete++
			}
			_ = hist.RecordValue(max(d.Microseconds(), 1))
		})
	}
	time.Sleep(100 * time.Millisecond) // every goroutine at the gate
	close(gate)
	wg.Wait()
	return hist, shed
}

// countCalls sets r's fragment calls, refreshes, remote and Redis counts
// and include outcomes, summed over the instances, from their metrics
// before and after the herd (one scrape an instance, in cps order).
func (r *HerdRound) countCalls(before, after []harness.Metrics) {
	r.Outcomes = map[string]float64{}
	for i := range after {
		d := after[i].Sum("broadsheet_fragment_calls_total") - before[i].Sum("broadsheet_fragment_calls_total")
		r.PerInstance = append(r.PerInstance, d)
		r.Calls += d
		delta := func(name string) float64 { return after[i].Sum(name) - before[i].Sum(name) }
		r.Refreshes += delta("broadsheet_background_refreshes_total")
		r.RemoteWaits += delta("broadsheet_remote_waits_total")
		r.Abandoned += delta("broadsheet_fragment_calls_abandoned_total")
		r.Takeovers += delta("broadsheet_remote_takeovers_total")
		r.FailHolds += delta("broadsheet_fail_holds_total")
		r.RemoteFailures += delta("broadsheet_remote_failures_total")
		r.RedisErrors += delta("broadsheet_redis_errors_total")
		r.RedisRejected += delta("broadsheet_redis_rejected_total")
		r.RedisStarved += delta("broadsheet_redis_starved_total")
		for _, oc := range []string{"hit", "stale", "miss", "timeout", "error", "fallback", "placeholder"} {
			lbl := `outcome="` + oc + `"`
			if v := after[i].Sum("broadsheet_include_duration_seconds_count", lbl) - before[i].Sum("broadsheet_include_duration_seconds_count", lbl); v > 0 {
				r.Outcomes[oc] += v
			}
		}
	}
}

func scrapeAll(ctx context.Context, cps []*composerProc) ([]harness.Metrics, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	var out []harness.Metrics
	for _, cp := range cps {
		m, err := harness.Scrape(ctx, client, cp.admin+"/metrics")
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func hdrPercentiles(h *hdrhistogram.Histogram) loadtest.Percentiles {
	if h.TotalCount() == 0 {
		return loadtest.Percentiles{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return loadtest.Percentiles{
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)), P99: us(h.ValueAtQuantile(99)),
		Max: us(h.Max()), Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
	}
}
