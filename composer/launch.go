package composer

import (
	"time"

	"github.com/broadsheet/broadsheet/composer/internal/launch"
)

// newLauncher returns the launcher of c's calls (see package launch): its
// calls in flight bounded by a limit adapted to the scheduling latency
// (Options.SchedTarget, up to MaxInFlight), a page's primaries first.
func (c *Composer) newLauncher(opts Options) *launch.Launcher[*start] {
	return launch.New(launch.NoLimit, launch.NewLimit(opts.SchedTarget, opts.MaxInFlight, &c.stats.CallLimit), launch.Funcs[*start]{
		Run: c.callNow,
		Shed: func(s *start, now time.Time) bool {
			if !c.shed(s, now) {
				return false
			}
			c.bg.Done()
			return true
		},
		Urgent: func(s *start) bool { return s.primary },
	})
}

// callAll starts the calls for starts, in order. A page's primary
// includes go first, past any queue: the page can send nothing, and fails
// as a 503, until they have resolved.
func (c *Composer) callAll(starts []*start) {
	if len(starts) == 0 {
		return
	}
	c.bg.Add(len(starts))
	c.launcher.Start(starts)
}

// call starts the call for s.
func (c *Composer) call(s *start) { c.callAll([]*start{s}) }

// shed drops s's call if every include waiting for it has given up (and
// no cache tier would keep the result): see flight.shedIfLate.
func (c *Composer) shed(s *start, now time.Time) bool {
	if !s.fl.ShedIfLate(now, c.keeps(s.f)) {
		return false
	}
	c.stats.Shed.Add(1)
	c.unlock(s)
	return true
}
