// The composer child processes the workloads measure: their flags per
// state, their start on a free port, the reference page the floor serves.

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// pagePath is the page every cell drives.
const pagePath = "/sport/football/scores"

// extraIncludes are the scores page's includes besides its scores: nav,
// scoreboard and footer.
const extraIncludes = 3

// startComposer starts the composer with args (and -addr) on a free
// loopback port, its log in the suite's directory under name, and waits
// until it is ready. It returns the process and its base URL.
func (s *suite) startComposer(ctx context.Context, name string, args []string) (*harness.Proc, string, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cp, err := harness.Start("composer", s.bin, append([]string{"-addr", addr}, args...), s.composerLog(name))
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := harness.WaitHTTP(ctx, cp, base+"/readyz", 10*time.Second); err != nil {
		cp.Stop()
		return nil, "", err
	}
	return cp, base, nil
}

// composerLog is the log file of the composer started under name.
func (s *suite) composerLog(name string) string { return filepath.Join(s.dir, name+"-composer.log") }

// composerArgs are the composer's flags for state, but -addr.
func (s *suite) composerArgs(state, redisURL string) []string {
	config := s.warm
	if state == "hang" {
		config = s.miss
	}
	// The demo league's goal events would re-render scores mid-measure.
	// No admission: the suite measures what the composer does with every
	// request it is sent (cmd/chaos measures the shedding).
	args := []string{"-config", config, "-log-level", "warn", "-feed-slow-every", "0", "-demo-league", "0",
		"-max-pages", "0", "-includes-in-flight", "0"}
	switch state {
	case "l1":
		args = append(args, "-feed-latency", "0")
	case "redis":
		args = append(args, "-feed-latency", "0", "-l1-mb", "0", "-redis", redisURL)
	case "cold":
		args = append(args, "-feed-latency", s.o.coldLatency.String(), "-l1-mb", "0")
	case "hang":
		args = append(args, "-feed-latency", "0", "-feed-hang-every", strconv.Itoa(s.o.hangEvery))
	case "hangcold":
		args = append(args, "-feed-latency", "0", "-l1-mb", "0", "-feed-hang-every", strconv.Itoa(s.o.hangEvery))
	}
	return args
}

// fetchReference fetches the page whose bytes the floor serves, trying up
// to five times, wait apart: right after the warm-up of a saturating cell
// (cold 10,000 includes at c=16) the composer may answer one request 503
// (a primary it could not compute in time), and the reference bytes are not
// the measurement — the target run counts its 503s as errors.
func fetchReference(ctx context.Context, url string, wait time.Duration) (loadtest.Page, error) {
	var err error
	for range 5 {
		var page loadtest.Page
		if page, err = loadtest.FetchPage(ctx, nil, url); err == nil {
			return page, nil
		}
		select {
		case <-ctx.Done():
			return loadtest.Page{}, ctx.Err()
		case <-time.After(wait):
		}
	}
	return loadtest.Page{}, err
}
