package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// balancer plays a load balancer in front of one composer: clients send
// pages while it is in rotation, and a prober takes it out at the first
// /readyz probe that is not 200.
type balancer struct {
	client           *http.Client
	page, readyz     string
	signalled        atomic.Bool // set by the scenario as it sends SIGTERM
	removed          chan struct{}
	removeOnce       sync.Once
	served           chan struct{} // one token per page answered
	wg               sync.WaitGroup
	cancel           context.CancelFunc
	mu               sync.Mutex
	requests, failed int
	afterSignal      int
	errors           map[string]int
	probeAfterSignal string
}

func newBalancer(client *http.Client, page, readyz string) *balancer {
	return &balancer{client: client, page: page, readyz: readyz, removed: make(chan struct{}),
		served: make(chan struct{}, 1<<16), errors: map[string]int{}}
}

func (b *balancer) inRotation() bool {
	select {
	case <-b.removed:
		return false
	default:
		return true
	}
}

func (b *balancer) start(ctx context.Context) {
	ctx, b.cancel = context.WithCancel(ctx)
	for range balancerClients {
		b.wg.Go(func() {
			for ctx.Err() == nil && b.inRotation() {
				after := b.signalled.Load()
				status, err := getPage(ctx, b.client, b.page)
				if ctx.Err() != nil {
					return
				}
				b.mu.Lock()
				b.requests++
				switch {
				case err != nil:
					b.failed++
					b.errors[err.Error()]++
				case status != http.StatusOK:
					b.failed++
					b.errors[fmt.Sprintf("status %d", status)]++
				case after:
					b.afterSignal++
				}
				b.mu.Unlock()
				select {
				case b.served <- struct{}{}:
				default:
				}
			}
		})
	}
	b.wg.Go(func() {
		for ctx.Err() == nil {
			after := b.signalled.Load()
			status, err := getPage(ctx, b.client, b.readyz)
			if ctx.Err() != nil {
				return
			}
			answer := fmt.Sprint(status)
			if err != nil {
				answer = err.Error()
			}
			if after {
				b.mu.Lock()
				if b.probeAfterSignal == "" {
					b.probeAfterSignal = answer
				}
				b.mu.Unlock()
			}
			if err != nil || status != http.StatusOK {
				b.removeOnce.Do(func() { close(b.removed) })
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(probeEvery):
			}
		}
	})
}

// waitServed waits until n pages have been answered.
func (b *balancer) waitServed(ctx context.Context, n int) error {
	for range n {
		select {
		case <-b.served:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("shutdown: the balancer's pages are not answered")
		}
	}
	return nil
}

// stop ends the clients and the prober; requests in flight complete.
func (b *balancer) stop() {
	b.removeOnce.Do(func() { close(b.removed) })
	b.wg.Wait()
	b.cancel()
}

func (b *balancer) counts() (requests, failed, afterSignal int, errs map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests, b.failed, b.afterSignal, b.errors
}

func (b *balancer) firstAfterSignal() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probeAfterSignal == "" {
		return "none"
	}
	return b.probeAfterSignal
}
