// Package harness starts and stops the child processes of Broadsheet's
// end-to-end tools (cmd/benchsuite, cmd/chaos): a composer binary built
// once, redis-server on a free loopback port, and what they need around
// them (free ports, readiness polls, memory samples, patched site
// configurations).
//
// Every process is started by Start and ended by its PID alone (Stop,
// Signal); nothing here ever looks processes up by name.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process. Stop ends it by its PID.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has been waited for
	err  error         // cmd.Wait's result, valid after done
}

// Start runs bin with args, its output appended to logPath.
func Start(name, bin string, args []string, logPath string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("harness: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = WithRuntimeSettings(os.Environ())
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("harness: starting %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// RuntimeGODEBUG is the Go runtime setting Broadsheet's binaries are run
// with in deployment (the Dockerfile's ENV, `make run`): goroutines start
// with stacks of the size goroutines have recently needed, instead of
// growing (copying) their stacks in every fragment call. A cold page of
// 2,000 includes: 32.3–32.8 ms → 27.8–29.5 ms alone over HTTP (see
// BENCHMARKS.md). It is a GODEBUG variable of the runtime's own, which a
// //go:debug directive cannot set.
const RuntimeGODEBUG = "adaptivestackstart=1"

// WithRuntimeSettings returns env with RuntimeGODEBUG added to GODEBUG,
// unless GODEBUG already sets adaptivestackstart (the caller's choice
// wins), so that the tools measure the binaries as deployed.
func WithRuntimeSettings(env []string) []string {
	out := make([]string, 0, len(env)+1)
	cur := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			cur = v
			continue
		}
		out = append(out, kv)
	}
	switch {
	case strings.Contains(cur, "adaptivestackstart="):
	case cur == "":
		cur = RuntimeGODEBUG
	default:
		cur += "," + RuntimeGODEBUG
	}
	return append(out, "GODEBUG="+cur)
}

// FirstLine returns the first line r yields (a server announcing its
// address) within d, and drains the rest of r in the background so that
// the writer never blocks.
func FirstLine(r io.Reader, d time.Duration) (string, error) {
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			line <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case l := <-line:
		return l, nil
	case <-time.After(d):
		return "", fmt.Errorf("harness: no line in %v", d)
	}
}

// PID is the process id of the child.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed once the child has ended and been waited for.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the child ended (cmd.Wait's result); nil until it has.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Exited reports whether the child has already ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the child, by its PID. It does nothing once the
// child has been waited for (its PID may belong to another process then).
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return errors.New("harness: " + p.Name + " has already exited")
	}
	return p.cmd.Process.Signal(sig)
}

// Stop sends SIGTERM to the child (by its PID), waits up to 5 s, then
// SIGKILLs it. A stopped (SIGSTOP) child is continued first so that it can
// act on SIGTERM. It is safe to call more than once and on nil.
func (p *Proc) Stop() {
	if p == nil || p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitHTTP polls url until it answers 200, p exits, or timeout passes.
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		switch {
		case p.Exited():
			return fmt.Errorf("harness: %s exited before it was ready: %v", p.Name, p.err)
		case time.Now().After(deadline):
			return fmt.Errorf("harness: %s not ready at %s after %s", p.Name, url, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// BuildComposer builds ./cmd/composer of the module in src into out,
// writing the compiler's output to log.
func BuildComposer(ctx context.Context, src, out string, log io.Writer) error {
	return Build(ctx, src, "./cmd/composer", out, log)
}

// Build builds the command pkg (such as "./cmd/fragsim") of the module in
// src into out, writing the compiler's output to log.
func Build(ctx context.Context, src, pkg, out string, log io.Writer) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	build.Dir = src
	build.Stdout, build.Stderr = log, log
	if err := build.Run(); err != nil {
		return fmt.Errorf("harness: building %s: %w", pkg, err)
	}
	return nil
}

// Mem is a process's memory as /proc/PID/status reports it, in KiB.
type Mem struct {
	RSS, HWM int64
}

// ReadMem reads VmRSS and VmHWM of pid.
func ReadMem(pid int) (Mem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Mem{}, err
	}
	var m Mem
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS = v
		case "VmHWM":
			m.HWM = v
		}
	}
	if m.RSS == 0 {
		return m, errors.New("harness: no VmRSS in /proc status")
	}
	return m, nil
}

// RSSSampler samples a process's VmRSS every interval until stopped and
// keeps the largest value seen.
type RSSSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  int64 // KiB
}

// SampleRSS starts sampling pid's VmRSS every interval.
func SampleRSS(pid int, interval time.Duration) *RSSSampler {
	s := &RSSSampler{stopc: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if m, err := ReadMem(pid); err == nil {
				s.peak = max(s.peak, m.RSS)
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// Stop ends the sampling and returns the peak VmRSS in KiB.
func (s *RSSSampler) Stop() int64 {
	close(s.stopc)
	s.wg.Wait()
	return s.peak
}
