package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// Overload is the overload scenario (4).
type Overload struct {
	// Cold: nothing cached (-overload-cold); Size the page's score includes.
	Cold     bool `json:"cold"`
	Size     int  `json:"size"`
	MaxPages int  `json:"max_pages"`
	MaxConns int  `json:"max_conns"`
	// ClientConns bounds the load client's connections (0: no bound).
	ClientConns int       `json:"client_conns"`
	Steps       []*Window `json:"steps"`
	// MaxRate is the highest step rate whose p99 was within budget with no
	// error.
	MaxRate int `json:"max_rate"`
	// Offered is the overload rate: ten times MaxRate, capped by -max-rate.
	Offered int     `json:"offered_rate"`
	Seconds float64 `json:"seconds"`
	Load    *Window `json:"load"`
	// Shed are 503 answers; ShedWithRetryAfter the probed 503s that
	// carried Retry-After, of ShedProbed; ShedP99 the probes' latency.
	Shed int `json:"shed_503"`
	// ShedConns are connections the composer answered 503 at accept,
	// over -max-conns (broadsheet_connections_shed_total); ConnsPeak the
	// most open connections sampled.
	ShedConns          float64 `json:"shed_connections"`
	DroppedConns       float64 `json:"dropped_connections"`
	ShedProbed         int     `json:"shed_probed"`
	ShedWithRetryAfter int     `json:"shed_with_retry_after"`
	ShedProbeP99MS     float64 `json:"shed_probe_p99_ms"`
	// Admitted pages, from the composer's page-duration histogram
	// (status 200, measured from arrival to last byte).
	Admitted            float64 `json:"admitted_200"`
	AdmittedWithin      float64 `json:"admitted_within_budget"`
	AdmittedWithinSlack float64 `json:"admitted_within_budget_plus_100ms"`
	RSSIdleKiB          int64   `json:"rss_idle_kib"`
	RSSPeakKiB          int64   `json:"rss_peak_kib"`
	GoroutinesPeak      float64 `json:"goroutines_peak"`
	// Recovery: 1-second windows at MaxRate after the overload, until one
	// has p99 within budget and no error.
	Recovery        []*Window `json:"recovery"`
	RecoverySeconds float64   `json:"recovery_s"`
	// ClientOverflow are the overload's requests the client could not
	// send (errClientOverflow): in its transport errors, never at the
	// composer. SentErrors are the other transport errors.
	ClientOverflow int `json:"client_overflow"`
	SentErrors     int `json:"sent_transport_errors"`
	// Floor is the same client at the offered rate for floorFor against
	// a trivial server answering the same page from memory: what the
	// client and the loopback can deliver on this machine at all.
	Floor *Window `json:"floor,omitempty"`
}

const floorFor = 5 * time.Second

var stepRates = []int{50, 100, 200, 400, 800, 1600, 3200, 6400}

// overload runs scenario 4 on the scores page of size includes, with the
// composer's -max-pages maxPages. Warm (cold false), every include is an
// L1 hit and a page is cheap: ten times its sustainable rate is more than
// a client on the same two cores can send. Cold ("overload-cold"), nothing
// is cached (-l1-mb 0, every include a call on every page): a page of
// 2,000 includes costs the composer enough CPU that ten times its
// sustainable rate is within the client's reach, and the overload is
// real.
//
// Its steps: 1. the step search for the sustainable rate; 2. ten times
// that, with probes checking the shed answers; 3. recovery at the
// sustainable rate; 4. the floor of the client at the offered rate.
func (e *env) overload(ctx context.Context, cold bool, size, maxPages int) (*Overload, error) {
	o := e.o
	cp, err := e.startOverloaded(ctx, cold, maxPages)
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	// The client's connections stay within -max-conns (half of it, leaving
	// room for the probe and the metrics scrapes): excess load reaches
	// the composer as requests on kept-alive connections, which it sheds
	// with a quick 503 (-max-pages), not as new connections.
	conns := o.clientConns
	if conns == 0 && o.maxConns > 0 {
		conns = max(1, o.maxConns/2)
	}
	client := loadClient()
	if conns > 0 {
		client = pooledClient(conns)
	}
	defer client.CloseIdleConnections()
	r := &overloadRun{cp: cp, client: client, url: cp.pageURL(size),
		res: &Overload{Cold: cold, Size: size, MaxPages: maxPages, MaxConns: o.maxConns, ClientConns: conns}}
	if _, err := windowRun(ctx, client, r.url, 20, time.Second, 0); err != nil { // warm L1
		return nil, err
	}
	if m, err := harness.ReadMem(cp.PID()); err == nil {
		r.res.RSSIdleKiB = m.RSS
	}

	if err := r.stepSearch(ctx); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	r.res.Offered = min(10*r.res.MaxRate, o.maxRate)
	after, err := r.offer(ctx, o.overloadFor)
	if err != nil {
		return nil, err
	}
	if err := r.recovery(ctx, after); err != nil {
		return nil, err
	}
	if err := r.floor(ctx); err != nil {
		return nil, err
	}
	return r.res, nil
}

// startOverloaded starts the composer of the overload scenario: warm, or
// cold with nothing cached, its pages bounded by -max-pages maxPages and
// its connections by -max-conns.
func (e *env) startOverloaded(ctx context.Context, cold bool, maxPages int) (*composerProc, error) {
	cfg, err := e.writeConfig("overload.yaml", warmSettings)
	if err != nil {
		return nil, err
	}
	args := []string{"-config", cfg, "-max-pages", strconv.Itoa(maxPages),
		"-max-conns", strconv.Itoa(e.o.maxConns), "-feed-latency", "1ms", "-feed-slow-every", "0"}
	name := "overload"
	if cold {
		// Every include a call on every page: the composer's CPU, not
		// the client's, is what runs out.
		args = append(args, "-l1-mb", "0")
		name = "overload-cold"
	}
	return e.startComposer(ctx, name, args...)
}

// overloadRun is the overload scenario under way: its composer, the load
// client and the page, and the figures its steps write.
type overloadRun struct {
	cp     *composerProc
	client *http.Client
	url    string
	res    *Overload
}

// stepSearch runs 4 s at each of stepRates, stopping at the first step
// over budget (or with an error, or short of 90% of its rate), and sets
// MaxRate to the last step that held (the first step's rate if none did).
func (r *overloadRun) stepSearch(ctx context.Context) error {
	res := r.res
	for _, rate := range stepRates {
		w, err := windowRun(ctx, r.client, r.url, rate, 4*time.Second, 0)
		if err != nil {
			return err
		}
		res.Steps = append(res.Steps, w)
		if ok := w.TTLB.P99 <= budget && w.Requests > 0 && w.fiveXX() == 0 && w.Transport == 0 && w.Incomplete == 0 &&
			float64(w.Requests) >= 0.9*float64(rate)*4; !ok {
			break
		}
		res.MaxRate = rate
	}
	if res.MaxRate == 0 {
		res.MaxRate = stepRates[0] // not even the first step held: overload from there
	}
	return nil
}

// offer offers the Offered rate for d while probes check the shed
// answers and a sampler reads the composer's RSS and goroutines; it counts
// the admitted pages from the composer's metrics scraped before and after,
// and returns the metrics after.
func (r *overloadRun) offer(ctx context.Context, d time.Duration) (harness.Metrics, error) {
	res := r.res
	before, err := harness.Scrape(ctx, r.client, r.cp.admin+"/metrics")
	if err != nil {
		return nil, err
	}
	smp := startSampler(ctx, r.cp, time.Now(), 100*time.Millisecond)
	stopProbes := probeShed(ctx, r.url, res)
	t0 := time.Now()
	w, err := windowRun(ctx, r.client, r.url, res.Offered, d, 0)
	res.Seconds = round1(time.Since(t0).Seconds())
	probeLat := stopProbes()
	smp.stop()
	if err != nil {
		return nil, err
	}
	res.Load = w
	for msg, n := range w.Errors {
		if strings.Contains(msg, errClientOverflow.Error()) {
			res.ClientOverflow += n
		}
	}
	res.SentErrors = w.Transport - res.ClientOverflow
	res.Shed = w.Status["503"]
	res.RSSPeakKiB = smp.maxRSS
	res.GoroutinesPeak = smp.maxGo
	if len(probeLat) > 0 {
		sortDurations(probeLat)
		res.ShedProbeP99MS = loadtest.Millis(probeLat[min(len(probeLat)-1, len(probeLat)*99/100)])
	}
	after, err := harness.Scrape(ctx, r.client, r.cp.admin+"/metrics")
	if err != nil {
		return nil, err
	}
	res.countAdmitted(before, after)
	return after, nil
}

// probeShed asks for url every 50 ms, on connections of its own, until
// the returned stop is called, counting into res the 503 answers and those
// of them with Retry-After. stop waits for the probe and returns the 503
// answers' latencies; res's probe counts are not read before it returns.
func probeShed(ctx context.Context, url string, res *Overload) (stop func() []time.Duration) {
	probeCtx, stopProbes := context.WithCancel(ctx)
	var probes sync.WaitGroup
	var probeLat []time.Duration
	probes.Go(func() {
		pc := &http.Client{Timeout: 5 * time.Second}
		defer pc.CloseIdleConnections()
		for probeCtx.Err() == nil {
			req, _ := http.NewRequestWithContext(probeCtx, http.MethodGet, url, nil)
			t0 := time.Now()
			resp, err := pc.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					res.ShedProbed++
					if resp.Header.Get("Retry-After") != "" {
						res.ShedWithRetryAfter++
					}
					probeLat = append(probeLat, time.Since(t0))
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	return func() []time.Duration {
		stopProbes()
		probes.Wait()
		return probeLat
	}
}

// countAdmitted sets the admitted pages (status 200, within the budget,
// within it plus 100 ms) and the connections shed and dropped from the
// composer's counters before and after the overload.
func (res *Overload) countAdmitted(before, after harness.Metrics) {
	count := func(m harness.Metrics, le string) float64 {
		if le == "" {
			return m.Sum("broadsheet_page_duration_seconds_count", `page="scores"`, `status="200"`)
		}
		return m.Sum("broadsheet_page_duration_seconds_bucket", `page="scores"`, `status="200"`, `le="`+le+`"`)
	}
	res.Admitted = count(after, "") - count(before, "")
	res.ShedConns = after.Sum("broadsheet_connections_shed_total") - before.Sum("broadsheet_connections_shed_total")
	res.DroppedConns = after.Sum("broadsheet_connections_dropped_total") - before.Sum("broadsheet_connections_dropped_total")
	res.AdmittedWithin = count(after, "0.4") - count(before, "0.4")
	res.AdmittedWithinSlack = count(after, "0.5") - count(before, "0.5")
}

// recovery runs 1-second windows at MaxRate, up to 20, until one has p99
// within budget and no error, and fills the last one's composer figures
// against after, the metrics at the end of the overload.
func (r *overloadRun) recovery(ctx context.Context, after harness.Metrics) error {
	res := r.res
	rec := time.Now()
	for range 20 {
		w, err := windowRun(ctx, r.client, r.url, res.MaxRate, time.Second, 0)
		if err != nil {
			return err
		}
		w.T = round1(time.Since(rec).Seconds())
		res.Recovery = append(res.Recovery, w)
		if w.TTLB.P99 <= budget && w.fiveXX() == 0 && w.Transport == 0 && w.Incomplete == 0 {
			res.RecoverySeconds = round1(time.Since(rec).Seconds())
			break
		}
	}
	if m, err := harness.Scrape(ctx, r.client, r.cp.admin+"/metrics"); err == nil && len(res.Recovery) > 0 {
		fill(res.Recovery[len(res.Recovery)-1], m, after, r.cp.PID())
	}
	return nil
}

// floor runs the client at the offered rate for floorFor against the same
// page served from memory, the composer idle.
func (r *overloadRun) floor(ctx context.Context) error {
	res := r.res
	rep, err := loadtest.RunFloor(ctx, loadtest.Config{URLs: []string{r.url}, Rate: res.Offered, Duration: floorFor,
		MaxRequests: int(float64(res.Offered)*floorFor.Seconds()) + 1, Client: r.client})
	if err != nil {
		return err
	}
	res.Floor = windowOf(res.Offered, rep)
	return nil
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
