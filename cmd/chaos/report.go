package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/loadtest"
)

func verdict(ok bool) string {
	if ok {
		return "held"
	}
	return "**did not hold**"
}

func statusText(s map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, s[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func transitionsText(ts []Transition) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%s@%.1fs", t.State, t.T))
	}
	return strings.Join(parts, " → ")
}

// writeMarkdown writes the results as the tables RELIABILITY.md quotes: a
// section a scenario that ran, in the scenarios' order, then the errors.
func writeMarkdown(w io.Writer, r *Results) {
	fmt.Fprintf(w, "# chaos results\n\n%s · nproc %s · %s · load average at start %s · %.0f s in all\n\n",
		r.Date, r.Machine["nproc"], r.Machine["cpu"], r.Machine["loadavg_at_start"], r.Seconds)
	if len(r.Redis) > 0 {
		writeRedisFaults(w, r.Redis)
	}
	if r.Herd != nil {
		writeHerd(w, r.Herd)
	}
	for _, ov := range []*Overload{r.Overload, r.OverloadCold} {
		if ov != nil {
			writeOverload(w, ov)
		}
	}
	if r.Shutdown != nil {
		writeShutdown(w, r.Shutdown)
	}
	if r.Memory != nil {
		writeMemory(w, r.Memory)
	}
	if s := r.Slowloris; s != nil {
		writeSlowloris(w, s)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "- error: %s\n", e)
	}
}

// writeRedisFaults writes scenario 1's section: a row a fault, then each
// fault's windows.
func writeRedisFaults(w io.Writer, faults []*RedisFault) {
	fmt.Fprintf(w, "## 1. Redis faults under load\n\n")
	fmt.Fprintf(w, "| fault | rate | requests | 5xx | transport errors | incomplete | worst per-second p99 ms | breaker transitions | hit rate before | recovery s after restore (first / for good) | verdict |\n|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|\n")
	for _, f := range faults {
		fmt.Fprintf(w, "| %s (at %.1fs, restored %.1fs) | %d/s | %d | %d | %d | %d | %.1f | %s | %.2f | %.1f / %.1f | %s |\n",
			f.Fault, f.FaultAt, f.RestoreAt, f.Rate, f.Requests, f.FiveXX, f.Transport, f.Incomplete, f.WorstP99,
			transitionsText(f.Transitions), f.HitRateBefore, f.RecoverySeconds, f.StableSeconds, verdict(f.Held))
	}
	for _, f := range faults {
		fmt.Fprintf(w, "\n<details><summary>%s: per second</summary>\n\n| t s | requests | status | p99 ms | Redis hit rate | breaker | goroutines |\n|---:|---:|---|---:|---:|---|---:|\n", f.Fault)
		for _, x := range f.Windows {
			fmt.Fprintf(w, "| %.1f | %d | %s | %.1f | %.2f | %s | %.0f |\n", x.T, x.Requests, statusText(x.Status), loadtest.Millis(x.TTLB.P99), x.HitRate(), x.Breaker, x.Goroutines)
		}
		fmt.Fprintf(w, "\n</details>\n")
	}
	fmt.Fprintln(w)
}

// writeHerd writes scenario 3's section: a row a round.
func writeHerd(w io.Writer, h *Herd) {
	fmt.Fprintf(w, "## 3. Thundering herd (%d requests at once, %d instances, %d includes per page, calls of %.0f ms)\n\nEntries in Redis after the cold herd (the keys the page has): %d.\n\n", h.Requests, h.Instances, h.Includes, h.FeedLatencyMS, h.Entries)
	fmt.Fprintf(w, "| round | status | transport errors | incomplete | TTLB p50 / p99 / max ms | fragment calls (per instance) | calls past timeout | refresh calls | remote waits / takeovers | failure holds (here / from the other) | Redis errors (starved) / rejected | include outcomes |\n|---|---|---:|---:|---|---|---:|---:|---|---|---|---|\n")
	for _, x := range []struct {
		name string
		r    *HerdRound
	}{{"cold", h.Cold}, {"expired (stale)", h.Expired}} {
		if x.r == nil {
			continue
		}
		st := map[string]int{}
		for k, v := range x.r.Status {
			st[fmt.Sprint(k)] = v
		}
		var oc []string
		for _, k := range slices.Sorted(maps.Keys(x.r.Outcomes)) {
			oc = append(oc, fmt.Sprintf("%s %.0f", k, x.r.Outcomes[k]))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %.1f / %.1f / %.1f | %.0f (%v) | %.0f | %.0f | %.0f / %.0f | %.0f / %.0f | %.0f (%.0f) / %.0f | %s |\n", x.name, statusText(st), x.r.Transport, x.r.Incomplete,
			loadtest.Millis(x.r.TTLB.P50), loadtest.Millis(x.r.TTLB.P99), loadtest.Millis(x.r.TTLB.Max), x.r.Calls, x.r.PerInstance, x.r.Abandoned, x.r.Refreshes,
			x.r.RemoteWaits, x.r.Takeovers, x.r.FailHolds, x.r.RemoteFailures, x.r.RedisErrors, x.r.RedisStarved, x.r.RedisRejected, strings.Join(oc, ", "))
	}
	for _, x := range []struct {
		name string
		r    *HerdRound
	}{{"cold", h.Cold}, {"expired", h.Expired}} {
		if x.r != nil && x.r.Status[503] > 0 {
			fmt.Fprintf(w, "%s: 503s per instance %v, their median %.0f ms.\n", x.name, x.r.Shed503, x.r.Shed503P50)
		}
	}
	fmt.Fprintln(w)
}

// writeOverload writes scenario 4's section for ov: its steps, the
// overload's figures and the floor.
func writeOverload(w io.Writer, ov *Overload) {
	state := "warm in L1"
	if ov.Cold {
		state = "nothing cached"
	}
	fmt.Fprintf(w, "## 4. Overload (%d score includes, %s; -max-pages %d, -max-conns %d)\n\n| step rate | requests | status | p99 ms |\n|---:|---:|---|---:|\n", ov.Size, state, ov.MaxPages, ov.MaxConns)
	for _, s := range ov.Steps {
		fmt.Fprintf(w, "| %d/s | %d | %s | %.1f |\n", s.Rate, s.Requests, statusText(s.Status), loadtest.Millis(s.TTLB.P99))
	}
	if ov.Load != nil {
		fmt.Fprintf(w, "\nhighest rate within budget: **%d/s**; offered **%d/s** for %.1f s: %d requests, %s, transport errors %d, client TTLB p50 / p99 %.1f / %.1f ms\n\n",
			ov.MaxRate, ov.Offered, ov.Seconds, ov.Load.Requests, statusText(ov.Load.Status), ov.Load.Transport, loadtest.Millis(ov.Load.TTLB.P50), loadtest.Millis(ov.Load.TTLB.P99))
	}
	within, slack := 0.0, 0.0
	if ov.Admitted > 0 {
		within, slack = 100*ov.AdmittedWithin/ov.Admitted, 100*ov.AdmittedWithinSlack/ov.Admitted
	}
	fmt.Fprintf(w, "| figure | value |\n|---|---|\n")
	fmt.Fprintf(w, "| shed (503 seen by the client) | %d; the composer shed %.0f connections over -max-conns (%.0f of them closed unanswered) |\n| probed 503s with Retry-After | %d of %d (probe p99 %.1f ms) |\n", ov.Shed, ov.ShedConns, ov.DroppedConns, ov.ShedWithRetryAfter, ov.ShedProbed, ov.ShedProbeP99MS)
	fmt.Fprintf(w, "| admitted pages (200, composer histogram) | %.0f: %.1f%% ≤ 400 ms budget, %.1f%% ≤ 500 ms |\n", ov.Admitted, within, slack)
	fmt.Fprintf(w, "| RSS idle → peak | %.0f → %.0f MiB |\n| goroutines peak | %.0f |\n", float64(ov.RSSIdleKiB)/1024, float64(ov.RSSPeakKiB)/1024, ov.GoroutinesPeak)
	fmt.Fprintf(w, "| recovery at %d/s (first clean 1 s window) | %.1f s (%d windows) |\n", ov.MaxRate, ov.RecoverySeconds, len(ov.Recovery))
	fmt.Fprintf(w, "| client connections | %d (composer -max-conns %d) |\n", ov.ClientConns, ov.MaxConns)
	if ov.Load != nil {
		fmt.Fprintf(w, "| client: requests not sent (its own pending bound: all %d connections busy, as many waiting) | %d |\n", ov.ClientConns, ov.ClientOverflow)
		fmt.Fprintf(w, "| client: sent requests that failed in transport | %d |\n", ov.SentErrors)
		fmt.Fprintf(w, "| client: transport errors by message | %s |\n", errorText(ov.Load.Errors))
	}
	if f := ov.Floor; f != nil {
		answered := 0
		for _, n := range f.Status {
			answered += n
		}
		fmt.Fprintf(w, "| floor: same client, %d/s offered for %.0f s to the page served from memory (composer idle) | %.0f/s answered (%s), %d not sent or failed, TTLB p50 / p99 %.1f / %.1f ms |\n",
			f.Rate, floorFor.Seconds(), float64(answered)/floorFor.Seconds(), statusText(f.Status), f.Transport, loadtest.Millis(f.TTLB.P50), loadtest.Millis(f.TTLB.P99))
	}
	fmt.Fprintln(w)
}

// writeShutdown writes scenario 6's section.
func writeShutdown(w io.Writer, s *Shutdown) {
	fmt.Fprintf(w, "## 6. Graceful shutdown: SIGTERM during a rolling deploy (-drain %.0f ms)\n\n| figure | value |\n|---|---|\n", s.DrainMS)
	fmt.Fprintf(w, "| balancer's pages until it took the composer out (%d clients, /readyz probed every %.0f ms) | %d sent, %d failed (%s), %d answered after SIGTERM |\n",
		balancerClients, loadtest.Millis(probeEvery), s.Requests, s.Failed, errorText(s.Errors), s.AfterSignal)
	fmt.Fprintf(w, "| first /readyz after SIGTERM | %s (out of rotation %.0f ms after the signal) |\n", s.ReadyzAfterSignal, s.RemovedAfterMS)
	fmt.Fprintf(w, "| new connection while draining | %s |\n", s.NewConnDuringDrain)
	fmt.Fprintf(w, "| page in flight at SIGTERM (calls of %.0f ms) | status %d, complete %v, %.0f ms %s |\n", s.FeedLatencyMS, s.InFlightStatus, s.InFlightComplete, s.InFlightMS, s.InFlightErr)
	fmt.Fprintf(w, "| exit after SIGTERM | %.0f ms (%s; bound %.0f ms) |\n", s.ExitMS, s.ExitErr, s.BoundMS)
	fmt.Fprintf(w, "| entries in Redis after exit (write-backs flushed) | %d of %d |\n| verdict | %s |\n\n", s.RedisKeys, s.ExpectedKeys, verdict(s.Held))
}

// writeMemory writes the memory scenario's section.
func writeMemory(w io.Writer, m *Memory) {
	fmt.Fprintf(w, "## Memory: %d clients at random sizes 1–%d of the scores page (-l1-mb %d, -stitch-mb %d, otherwise defaults)\n\n| figure | value |\n|---|---|\n", m.Concurrency, m.MaxSize, m.L1MiB, m.StitchMiB)
	if a := m.Attack; a != nil {
		fmt.Fprintf(w, "| attack, %.1f s | %d pages (%.1f/s), %s, transport errors %d, TTLB p50 / p99 %.1f / %.1f ms |\n", m.Seconds, a.Requests, a.Completed, statusText(a.Status), a.Transport, loadtest.Millis(a.TTLB.P50), loadtest.Millis(a.TTLB.P99))
	}
	if f := m.Front; f != nil {
		fmt.Fprintf(w, "| front page meanwhile, %d/s | %d pages, %s, transport errors %d, TTLB p50 / p99 %.1f / %.1f ms (budget %.0f ms) |\n", f.Rate, f.Requests, statusText(f.Status), f.Transport, loadtest.Millis(f.TTLB.P50), loadtest.Millis(f.TTLB.P99), m.FrontBudgetMS)
	}
	fmt.Fprintf(w, "| RSS idle → peak → %.0f s after | %.0f → %.0f → %.0f MiB (limit: caches + 256 = %d MiB) |\n| verdict | %s |\n\n",
		memoryRest.Seconds(), float64(m.RSSIdleKiB)/1024, float64(m.RSSPeakKiB)/1024, float64(m.RSSAfterKiB)/1024, m.LimitMiB, verdict(m.Held))
}

// writeSlowloris writes the slow-client scenario's table: the normal
// client's figures alone and during each attack, and what the composer
// shed and held.
func writeSlowloris(w io.Writer, s *Slowloris) {
	perIP := strconv.Itoa(s.PerIP)
	if s.PerIP < 0 {
		perIP = "(not given)"
	}
	fmt.Fprintf(w, "## Slow clients (-max-conns %d, -max-conns-per-ip %s; the normal client's pages have budgets of %.0f ms and more)\n\n", s.MaxConns, perIP, s.BudgetMS)
	fmt.Fprintf(w, "| phase | attack | normal client: status | transport errors | TTLB p50 / p99 ms | within budget | attack: opened / answered 503 / closed unanswered | composer: shed (per IP) | open conns peak | goroutines peak / at end / 3 s after | RSS idle → peak MiB |\n|---|---|---|---:|---|---|---|---|---:|---|---|\n")
	row := func(phase, attack string, n *Window, a *Attack) {
		within := "yes"
		if n.TTLB.P99 > time.Duration(s.BudgetMS)*time.Millisecond || n.fiveXX() > 0 || n.Transport > 0 {
			within = "**no**"
		}
		if a == nil {
			fmt.Fprintf(w, "| %s | %s | %s | %d | %.1f / %.1f | %s | | | | | |\n", phase, attack, statusText(n.Status), n.Transport, loadtest.Millis(n.TTLB.P50), loadtest.Millis(n.TTLB.P99), within)
			return
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.1f / %.1f | %s | %d / %d / %d | %.0f (%.0f) | %.0f | %.0f / %.0f / %.0f | %.0f → %.0f |\n",
			phase, attack, statusText(n.Status), n.Transport, loadtest.Millis(n.TTLB.P50), loadtest.Millis(n.TTLB.P99), within,
			a.Opened, a.Got503, a.ClosedBy, a.ShedConns, a.ShedPerIP, a.OpenPeak, a.GoPeak, a.GoEnd, a.GoAfter,
			float64(a.RSSIdleKiB)/1024, float64(a.RSSPeakKiB)/1024)
	}
	row("alone", "none", s.Baseline, nil)
	for _, a := range []*Attack{s.Headers, s.Readers} {
		if a != nil && a.Normal != nil {
			row(a.Kind, fmt.Sprintf("%d conns from %d addresses, %.0f s", a.Conns, a.IPs, a.Seconds), a.Normal, a)
		}
	}
	fmt.Fprintln(w)
}

// errorText lists transport error samples, most frequent first, each
// message cut short.
func errorText(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return m[b] - m[a] })
	var out []string
	for _, k := range keys {
		msg := k
		if len(msg) > 90 {
			msg = "…" + msg[len(msg)-90:]
		}
		out = append(out, fmt.Sprintf("%d × %q", m[k], msg))
	}
	return strings.Join(out, "; ")
}
