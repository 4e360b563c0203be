package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/broadsheet/broadsheet/internal/fragsim"
	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// The down workload's timeline, from the start of its load: the composer
// and the service start together, the load runs downWarm before the
// measured "before" window; the service is killed at downKill and started
// again at downRestart; the load ends at downEnd.
const (
	downWarm    = 2 * time.Second
	downKill    = 5 * time.Second
	downRestart = 9 * time.Second
	downEnd     = 14 * time.Second
)

// downResult is the down workload of one run: -c clients with ?debug=1
// on a service whose fast fragments are fresh for a second and stale for
// a minute (-remote-down-cache-control), killed (SIGKILL: connections
// refused) and started again on the same port under a new gen.
type downResult struct {
	Run int    `json:"run"`
	Err string `json:"error,omitempty"`
	// Before, Down and After are the pages sent from downWarm to the
	// kill, while the service was down, and after it answered again.
	Before pageFigures `json:"before"`
	Down   pageFigures `json:"down"`
	After  pageFigures `json:"after"`
	// KilledS and BackS are when the service was killed and answered
	// again, in seconds from the start of the load.
	KilledS float64 `json:"killed_s"`
	BackS   float64 `json:"back_s"`
	// BreakerMS is from the kill to the end of the first page sent after
	// it that reports a call refused by the breaker; -1 if none did.
	BreakerMS float64 `json:"breaker_open_ms"`
	// Breaker is the host breaker's changes, from the composer's log;
	// AtKill its state at the kill; OpenMS is from the kill to its first
	// change to open, ClosedMS from the service answering again to its
	// first change to closed after the kill (0 when the breaker closed
	// before the suite's own probe saw the service answer: the composer's
	// half-open trickle can reach it first); -1 if none.
	Breaker  []breakerEvent `json:"breaker"`
	AtKill   string         `json:"breaker_at_kill"`
	OpenMS   float64        `json:"breaker_logged_open_ms"`
	ClosedMS float64        `json:"breaker_logged_closed_ms"`
	// InUseMS is from the service answering again to the end of the first
	// page holding one of the restarted service's fragments; FreshMS to
	// the end of the first page holding all its fast fragments from it;
	// -1 if none did.
	InUseMS float64 `json:"back_in_use_ms"`
	FreshMS float64 `json:"all_fresh_ms"`
}

// down runs the down workload once: the service is killed and started
// again under load (see the timeline above).
func (s *suite) down(ctx context.Context, run int) (r downResult) {
	r.Run = run + 1
	r.BreakerMS, r.InUseMS, r.FreshMS, r.OpenMS, r.ClosedMS = -1, -1, -1, -1, -1
	name := fmt.Sprintf("remote-down-run%d", run+1)
	port, err := harness.FreePort()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	sv, err := s.startService(ctx, name, port, s.o.fragsimArgs(s.o.remoteSlowEvery, s.o.remoteDownCC, "1"))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	stopService := sv.proc.Stop
	defer func() { stopService() }()
	cp, base, err := s.startRemoteComposer(ctx, name, sv.base, s.o.remoteTimeout)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer cp.Stop()
	want := s.o.wantFast(s.o.remoteSlowEvery)

	gen2 := fragsim.GenMarker("2")
	pr := remotePresence(breakerMarker, gen2, outcomeMarker("frag", "stale"), outcomeMarker("frag", "timeout"), outcomeMarker("frag", "error"))
	rep, f, start, err := s.downLoad(ctx, name, port, sv, base, pr)
	if f.sv != nil {
		stopService = f.sv.proc.Stop
	}
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.pageTimeline(rep.Pages, pr, gen2, f, start, want)
	if r.Breaker, err = breakerEvents(s.composerLog(name), start); err != nil {
		r.Err = err.Error()
		return r
	}
	r.AtKill = breakerStateAt(r.Breaker, start, f.killed)
	if d, ok := firstBreakerEvent(r.Breaker, start, f.killed, "open"); ok {
		r.OpenMS = loadtest.Millis(d)
	}
	if d, ok := firstBreakerEvent(r.Breaker, start, f.killed, "closed"); ok {
		r.ClosedMS = max(0, loadtest.Millis(d-f.back.Sub(f.killed)))
	}
	return r
}

// downLoad runs the down workload's load against base, scanned for pr's
// markers, while killAndRestart kills sv and starts it again on port. It
// returns the pages, what the fault did (its restarted service, if any,
// also on error) and when the load started; an error if either failed or
// was interrupted.
func (s *suite) downLoad(ctx context.Context, name string, port int, sv *service, base string, pr presence) (*loadtest.Report, fault, time.Time, error) {
	cfg := s.remoteLoad(base, true, s.o.concurrency, downEnd, pr)
	cfg.MaxRequests = 0 // the timeline bounds it

	start := time.Now()
	faultc := make(chan fault, 1)
	go func() { faultc <- s.killAndRestart(ctx, name, port, sv, start) }()
	rep, err := loadtest.Run(ctx, cfg)
	f := <-faultc
	switch {
	case err != nil:
		return nil, f, start, err
	case f.err != nil:
		return nil, f, start, f.err
	case f.killed.IsZero() || f.back.IsZero():
		return nil, f, start, errors.New("benchsuite: the down workload was interrupted")
	}
	return rep, f, start, nil
}

// pageTimeline fills in r's figures from the pages: the windows before the
// kill, while the service was down and after it answered again (of want
// fast fragments each), and when the pages first showed the breaker open,
// the restarted service (gen2) in use, and all its fast fragments fresh.
func (r *downResult) pageTimeline(pages []loadtest.PageResult, pr presence, gen2 string, f fault, start time.Time, want int64) {
	r.KilledS, r.BackS = f.killed.Sub(start).Seconds(), f.back.Sub(start).Seconds()
	r.Before = summarize(pages, pr, start.Add(downWarm), f.killed, f.killed.Sub(start.Add(downWarm)), want)
	r.Down = summarize(pages, pr, f.killed, f.back, f.back.Sub(f.killed), want)
	r.After = summarize(pages, pr, f.back, time.Time{}, start.Add(downEnd).Sub(f.back), want)

	marker := func(m string) func(*loadtest.PageResult) bool {
		i := slices.Index(pr.markers, m)
		return func(p *loadtest.PageResult) bool { return p.Markers[i] > 0 }
	}
	if d, ok := firstEnd(pages, f.killed, f.killed, marker(breakerMarker)); ok {
		r.BreakerMS = loadtest.Millis(d)
	}
	if d, ok := firstEnd(pages, f.back, f.back, marker(gen2)); ok {
		r.InUseMS = loadtest.Millis(d)
	}
	gi := slices.Index(pr.markers, gen2)
	if d, ok := firstEnd(pages, f.back, f.back, func(p *loadtest.PageResult) bool { return p.Markers[gi] >= want }); ok {
		r.FreshMS = loadtest.Millis(d)
	}
}

// fault is what killAndRestart did: when the service was killed (the
// signal sent) and when its new run answered (zero if it did not get there), the new run, and
// what failed.
type fault struct {
	killed, back time.Time
	sv           *service
	err          error
}

// killAndRestart kills sv (SIGKILL, by its PID) downKill after start and
// starts the service again on port, as gen 2, downRestart after start.
func (s *suite) killAndRestart(ctx context.Context, name string, port int, sv *service, start time.Time) (f fault) {
	wait := func(at time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(start.Add(at))):
			return true
		}
	}
	if !wait(downKill) {
		return f
	}
	// The kill is dated when it is sent: the kernel refuses and resets
	// the service's connections as it dies, which the composer may see
	// (and its breaker log) before the process is reaped.
	killed := time.Now()
	if f.err = sv.proc.Signal(syscall.SIGKILL); f.err != nil {
		return f
	}
	<-sv.proc.Done()
	f.killed = killed
	if !wait(downRestart) {
		return f
	}
	f.sv, f.err = s.startService(ctx, name+"-restarted", port, s.o.fragsimArgs(s.o.remoteSlowEvery, s.o.remoteDownCC, "2"))
	f.back = time.Now()
	return f
}
