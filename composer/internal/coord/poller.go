package coord

import (
	"sync"
	"time"
)

// Poller watches waits — keys whose result another instance is making —
// from one goroutine that lives while any is left. Its methods are safe
// for concurrent use.
type Poller[T any] struct {
	// Look looks once for the results of waiting and returns the waits
	// still open. It runs on the poller's goroutine, one call at a time.
	Look func(waiting []T) []T
	// Closed ends a wait still open when the poller stops.
	Closed func(T)
	// Interval is how long the poller sleeps between looks.
	Interval time.Duration
	// Go runs the poller's goroutine; the caller counts it (a WaitGroup's
	// Go, say). Nil: a plain go statement.
	Go func(func())
	// Done ends the poller: the waits still open are closed.
	Done <-chan struct{}

	mu      sync.Mutex
	waiting []T
	polling bool
}

// Wait adds waits, starting the poller's goroutine if none runs.
func (p *Poller[T]) Wait(ws []T) {
	if len(ws) == 0 {
		return
	}
	p.mu.Lock()
	p.waiting = append(p.waiting, ws...)
	start := !p.polling
	p.polling = true
	p.mu.Unlock()
	if !start {
		return
	}
	if p.Go != nil {
		p.Go(p.poll)
	} else {
		go p.poll()
	}
}

// poll looks every interval until no wait is left or Done ends it.
func (p *Poller[T]) poll() {
	t := time.NewTimer(p.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-p.Done:
			p.mu.Lock()
			waiting := p.waiting
			p.waiting, p.polling = nil, false
			p.mu.Unlock()
			for _, w := range waiting {
				p.Closed(w)
			}
			return
		}
		p.mu.Lock()
		waiting := p.waiting
		p.waiting = nil
		if len(waiting) == 0 {
			p.polling = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		rest := p.Look(waiting)
		p.mu.Lock()
		p.waiting = append(rest, p.waiting...)
		p.mu.Unlock()
		t.Reset(p.Interval)
	}
}
