package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
	"github.com/broadsheet/broadsheet/remote"
)

// firstResult is the first-page workload of one run: -remote-first-starts
// fresh composers, one after the other, each asked for one page (no
// debug) as soon as it is ready, from a service with no slow fragments
// that stays up.
type firstResult struct {
	Run    int         `json:"run"`
	Err    string      `json:"error,omitempty"`
	Starts []firstPage `json:"starts"`
	// MedianMS is the median of the first pages' TTLB.
	MedianMS float64 `json:"median_ms"`
	// FloorMS is, for each start, what Go's bare HTTP client took to fetch
	// the same URLs from a fresh transport just before (see bareFetch);
	// FloorMedianMS is their median.
	FloorMS       []float64 `json:"floor_ms"`
	FloorMedianMS float64   `json:"floor_median_ms"`
}

// firstPage is a fresh composer's first page.
type firstPage struct {
	TTLBMS  float64 `json:"ttlb_ms"`
	Status  int     `json:"status"`
	Present int64   `json:"present"`
	Missing int64   `json:"missing"`
	// ServiceConns and ServiceRequests count the connections the service
	// accepted and the requests it had for the page.
	ServiceConns    int64 `json:"service_connections"`
	ServiceRequests int64 `json:"service_requests"`
}

func (s *suite) first(ctx context.Context, run int) (r firstResult) {
	r.Run = run + 1
	name := fmt.Sprintf("remote-first-run%d", run+1)
	port, err := harness.FreePort()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	sv, err := s.startService(ctx, name, port, s.o.fragsimArgs(0, s.o.remoteCC, "1"))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer sv.proc.Stop()
	pr := remotePresence()
	var lat []float64
	for k := range s.o.remoteFirstStarts {
		floor, _, err := bareFetch(ctx, sv.base, s.o.remoteIncludes)
		if err != nil {
			r.Err = err.Error()
			return r
		}
		r.FloorMS = append(r.FloorMS, loadtest.Millis(floor))
		p, err := s.firstPage(ctx, fmt.Sprintf("%s-start%d", name, k+1), sv, pr)
		if err != nil {
			r.Err = err.Error()
			return r
		}
		r.Starts = append(r.Starts, p)
		lat = append(lat, p.TTLBMS)
	}
	r.MedianMS, r.FloorMedianMS = median(lat), median(r.FloorMS)
	return r
}

func (s *suite) firstPage(ctx context.Context, name string, sv *service, pr presence) (firstPage, error) {
	var p firstPage
	cp, base, err := s.startRemoteComposer(ctx, name, sv.base, s.o.remoteTimeout)
	if err != nil {
		return p, err
	}
	defer cp.Stop()
	before, err := sv.stats(ctx)
	if err != nil {
		return p, err
	}
	cfg := s.remoteLoad(base, false, 1, 0, pr)
	cfg.MaxRequests = 1
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return p, err
	}
	if len(rep.Pages) != 1 || rep.Pages[0].Err != nil {
		return p, fmt.Errorf("benchsuite: first page: %v", rep.ErrorSamples)
	}
	pg := &rep.Pages[0]
	after, err := sv.stats(ctx)
	p = firstPage{TTLBMS: loadtest.Millis(pg.TTLB), Status: pg.Status, Present: pr.sum(pg, pr.present), Missing: pr.sum(pg, pr.missing),
		ServiceConns: after.Connections - before.Connections, ServiceRequests: after.Requests - before.Requests}
	return p, err
}

// bareFetch is the floor of the remote-first workload: what Go's own
// HTTP/1.1 client takes to fetch the first page's URLs (base/frag/0 to
// base/frag/n-1) from a fresh transport — its connections dialed as it
// goes, as a fresh composer's are — with the composer's bound of
// connections per host, and nothing else: no composer, no page, no
// timeout. It returns the time until the last body was read and how many
// answered 200.
func bareFetch(ctx context.Context, base string, n int) (time.Duration, int64, error) {
	tr := &http.Transport{
		Proxy:               nil,
		MaxConnsPerHost:     remote.DefaultMaxConnsPerHost,
		MaxIdleConnsPerHost: remote.DefaultMaxConnsPerHost,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		ok       atomic.Int64
		firstErr atomic.Pointer[error]
		wg       sync.WaitGroup
		slots    = make(chan struct{}, remote.DefaultMaxConnsPerHost)
	)
	t0 := time.Now()
	for i := range n {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := get(ctx, tr, fmt.Sprintf("%s/frag/%d", base, i)); err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	took := time.Since(t0)
	if p := firstErr.Load(); p != nil {
		return took, ok.Load(), fmt.Errorf("benchsuite: bare client: %w", *p)
	}
	return took, ok.Load(), nil
}

// get GETs url through rt and reads its body; anything but a 200 is an
// error.
func get(ctx context.Context, rt http.RoundTripper, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
