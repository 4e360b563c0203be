package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/broadsheet/broadsheet/remote"
)

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
