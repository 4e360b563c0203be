package server

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// signalChildEnv, set in the environment, makes the test binary a server
// of testSite with the flags in it (TestSignals' child).
const signalChildEnv = "BROADSHEET_SERVER_TEST_CHILD"

func init() {
	args := os.Getenv(signalChildEnv)
	if args == "" {
		return
	}
	var greeting string
	if err := Run(context.Background(), testSite(&greeting), strings.Fields(args)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestSignals runs a server in a process of its own, as a site's binary
// runs: SIGTERM starts its drain and it exits when the drain is over; a
// second signal during a (ten-minute) drain stops it at once.
func TestSignals(t *testing.T) {
	for _, tt := range []struct {
		name   string
		drain  string
		second bool
	}{
		{"SIGTERM drains, then stops", "0s", false},
		{"a second signal stops at once", "10m", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), signalChildEnv+"=-addr "+addr+" -drain "+tt.drain)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			lines := make(chan string, 64)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					select {
					case lines <- sc.Text():
					default:
					}
				}
				close(lines)
				exited <- cmd.Wait()
			}()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			waitLine := func(want string) {
				t.Helper()
				for line := range lines {
					if strings.Contains(line, want) {
						return
					}
				}
				t.Fatalf("the server exited before logging %q", want)
			}
			waitLine("composer: serving")
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if tt.second {
				waitLine("composer: draining")
				// The default action of SIGINT once the server has
				// unregistered it: the process ends, killed by it.
				if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-exited:
				if !tt.second && err != nil {
					t.Errorf("after SIGTERM: %v, want a clean exit", err)
				}
				if tt.second && err == nil {
					t.Errorf("after a second signal the server exited cleanly: it should have been stopped by the signal")
				}
			case <-time.After(time.Minute):
				t.Fatal("the server was still running a minute after the signal(s)")
			}
		})
	}
}
