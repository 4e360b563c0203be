package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// TestShutdownUnderLoad is scenario 6 in the normal suite: a real
// composer process and redis-server, a simulated load balancer sending
// pages and probing /readyz, SIGTERM. Every page sent until the balancer
// takes the composer out of rotation is answered 200, some of them after
// the signal; /readyz fails at once; a new connection is still served
// while the composer drains; the slow page in flight completes; the
// process exits 0. Without the drain (-drain 0) pages sent in the moment
// before the balancer's next probe find the listener closed.
func TestShutdownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a composer process (-short)")
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no redis-server: scripts/test.sh installs it in CI")
		}
		t.Skip("no redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	e := &env{o: &options{redisBin: redisBin}, dir: dir, bin: filepath.Join(dir, "composer"), log: &testLog{t}}
	if err := harness.BuildComposer(ctx, "../..", e.bin, e.log); err != nil {
		t.Fatal(err)
	}
	res, err := e.shutdown(ctx, shutdownDrain)
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	writeMarkdown(&md, &Results{Shutdown: res})
	t.Log("\n" + md.String())
	if res.Failed != 0 {
		t.Errorf("%d of %d pages failed before the balancer took the composer out: %v", res.Failed, res.Requests, res.Errors)
	}
	if res.AfterSignal == 0 {
		t.Error("no page was answered after SIGTERM")
	}
	if !res.Removed || res.RemovedAfterMS >= loadtest.Millis(shutdownDrain) {
		t.Errorf("/readyz failed %.0f ms after SIGTERM (removed %v), want within the drain (%v)", res.RemovedAfterMS, res.Removed, shutdownDrain)
	}
	if !strings.HasPrefix(res.NewConnDuringDrain, "served") {
		t.Errorf("a new connection while draining: %s, want it served", res.NewConnDuringDrain)
	}
	if res.InFlightStatus != 200 || !res.InFlightComplete {
		t.Errorf("the page in flight at SIGTERM: status %d, complete %v, %s", res.InFlightStatus, res.InFlightComplete, res.InFlightErr)
	}
	if res.ExitErr != "exit 0" {
		t.Errorf("exit: %s", res.ExitErr)
	}
}

// testLog writes a child's build output to the test log.
type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
