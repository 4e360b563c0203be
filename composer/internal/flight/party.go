package flight

import (
	"context"
	"errors"
	"sync"
)

// Party is one request's membership of the Group it waits for. When the
// request's context ends because its client went away, the party leaves
// every flight it joined (see flight.leave); when it ends because the page
// was served (cause ErrServed), it leaves none: calls still running for
// includes that missed their deadline finish in the background to fill
// the cache, bounded by their timeouts.
//
// The zero Party is unusable; NewParty binds one to its request's context.
// A party is safe for concurrent use (a page's levels join flights from
// several goroutines).
type Party[E any, W Waiter[E]] struct {
	ctx  context.Context
	mu   sync.Mutex
	fls  []*Flight[E, W]
	stop func() bool
	gone bool
}

// ErrServed is the cause with which Serve ends a request's context once
// the page has been written, as opposed to the client going away.
var ErrServed = errors.New("flight: request served")

// NewParty returns the party of a request whose context is ctx.
func NewParty[E any, W Waiter[E]](ctx context.Context) *Party[E, W] { return &Party[E, W]{ctx: ctx} }

// AddAll remembers that the party waits for fls (the flights Join counted
// it in); the first add starts watching the request's context.
func (p *Party[E, W]) AddAll(fls []*Flight[E, W]) {
	if len(fls) == 0 {
		return
	}
	p.mu.Lock()
	if p.gone {
		// The client left while this request was still joining: count it
		// out of these at once.
		p.mu.Unlock()
		for _, f := range fls {
			f.leave()
		}
		return
	}
	p.fls = append(p.fls, fls...)
	if p.stop == nil {
		p.stop = context.AfterFunc(p.ctx, p.leave)
	}
	p.mu.Unlock()
}

// leave runs once the request's context has ended.
func (p *Party[E, W]) leave() {
	if errors.Is(context.Cause(p.ctx), ErrServed) {
		return
	}
	p.mu.Lock()
	p.gone = true
	fls := p.fls
	p.fls = nil
	p.mu.Unlock()
	for _, f := range fls {
		f.leave()
	}
}

// leave tells f that one of its party waiters' client went away. When it
// was the last waiter and nothing pins f, the call is abandoned: f
// completes with ErrAbandoned (so it leaves the group, and the next
// request starts afresh) and then its call's context is cancelled. A call
// past its timeout is left alone: its context has ended already, and it
// keeps its key until retryAt, so that leaving clients cannot make a hung
// fragment be called again and again.
func (f *Flight[E, W]) leave() {
	f.mu.Lock()
	if f.done || f.expired || f.pinned {
		f.mu.Unlock()
		return
	}
	f.parties--
	if f.parties > 0 {
		f.mu.Unlock()
		return
	}
	cancel := f.cancel
	f.mu.Unlock()
	if f.Complete(nil, ErrAbandoned) && cancel != nil {
		cancel(ErrAbandoned)
	}
}
