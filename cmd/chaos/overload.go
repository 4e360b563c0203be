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
func (e *env) overload(ctx context.Context, cold bool, size, maxPages int) (*Overload, error) {
	o := e.o
	cfg, err := e.writeConfig("overload.yaml", warmSettings)
	if err != nil {
		return nil, err
	}
	args := []string{"-config", cfg, "-max-pages", strconv.Itoa(maxPages),
		"-max-conns", strconv.Itoa(o.maxConns), "-feed-latency", "1ms", "-feed-slow-every", "0"}
	if cold {
		// Every include a call on every page: the composer's CPU, not
		// the client's, is what runs out.
		args = append(args, "-l1-mb", "0")
	}
	name := "overload"
	if cold {
		name = "overload-cold"
	}
	cp, err := e.startComposer(ctx, name, args...)
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
	url := cp.pageURL(size)
	if _, err := windowRun(ctx, client, url, 20, time.Second, 0); err != nil { // warm L1
		return nil, err
	}
	res := &Overload{Cold: cold, Size: size, MaxPages: maxPages, MaxConns: o.maxConns, ClientConns: conns}
	if m, err := harness.ReadMem(cp.PID()); err == nil {
		res.RSSIdleKiB = m.RSS
	}

	// 1. Step search, 4 s per step, stopping at the first step over budget.
	for _, rate := range stepRates {
		w, err := windowRun(ctx, client, url, rate, 4*time.Second, 0)
		if err != nil {
			return nil, err
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
	time.Sleep(time.Second)

	// 2. Ten times that, with probes checking the shed answers.
	res.Offered = min(10*res.MaxRate, o.maxRate)
	before, err := harness.Scrape(ctx, client, cp.admin+"/metrics")
	if err != nil {
		return nil, err
	}
	smp := startSampler(ctx, cp, time.Now(), 100*time.Millisecond)
	probeCtx, stopProbes := context.WithCancel(ctx)
	var probes sync.WaitGroup
	var probeMu sync.Mutex
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
					probeMu.Lock()
					res.ShedProbed++
					if resp.Header.Get("Retry-After") != "" {
						res.ShedWithRetryAfter++
					}
					probeLat = append(probeLat, time.Since(t0))
					probeMu.Unlock()
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t0 := time.Now()
	w, err := windowRun(ctx, client, url, res.Offered, o.overloadFor, 0)
	res.Seconds = round1(time.Since(t0).Seconds())
	stopProbes()
	probes.Wait()
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
	after, err := harness.Scrape(ctx, client, cp.admin+"/metrics")
	if err != nil {
		return nil, err
	}
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

	// 3. Recovery at the sustainable rate.
	rec := time.Now()
	for range 20 {
		w, err := windowRun(ctx, client, url, res.MaxRate, time.Second, 0)
		if err != nil {
			return nil, err
		}
		w.T = round1(time.Since(rec).Seconds())
		res.Recovery = append(res.Recovery, w)
		if w.TTLB.P99 <= budget && w.fiveXX() == 0 && w.Transport == 0 && w.Incomplete == 0 {
			res.RecoverySeconds = round1(time.Since(rec).Seconds())
			break
		}
	}
	if m, err := harness.Scrape(ctx, client, cp.admin+"/metrics"); err == nil && len(res.Recovery) > 0 {
		fill(res.Recovery[len(res.Recovery)-1], m, after, cp.PID())
	}

	// 4. The floor: the client at the offered rate against the same page
	// served from memory, the composer idle.
	rep, err := loadtest.RunFloor(ctx, loadtest.Config{URLs: []string{url}, Rate: res.Offered, Duration: floorFor,
		MaxRequests: int(float64(res.Offered)*floorFor.Seconds()) + 1, Client: client})
	if err != nil {
		return nil, err
	}
	res.Floor = windowOf(res.Offered, rep)
	return res, nil
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
