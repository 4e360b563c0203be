package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// proc is one child process the suite started. stop ends it by its PID.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has been waited for
	err  error         // cmd.Wait's result, valid after done
}

// startProc runs bin with args, its output appended to logPath.
func startProc(name, bin string, args []string, logPath string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("benchsuite: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("benchsuite: starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id of the child.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the child has already ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the child (by its PID), waits up to 5 s, then
// SIGKILLs it. It is safe to call more than once.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 200, p exits, or timeout passes.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		switch {
		case p.exited():
			return fmt.Errorf("benchsuite: %s exited before it was ready: %v", p.name, p.err)
		case time.Now().After(deadline):
			return fmt.Errorf("benchsuite: %s not ready at %s after %s", p.name, url, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// procMem is a process's memory as /proc/PID/status reports it, in KiB.
type procMem struct {
	RSS, HWM int64
}

// readProcMem reads VmRSS and VmHWM of pid.
func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMem{}, err
	}
	var m procMem
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
		return m, errors.New("benchsuite: no VmRSS in /proc status")
	}
	return m, nil
}

// rssSampler samples a process's VmRSS every interval until stopped and
// keeps the largest value seen.
type rssSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  int64 // KiB
}

func sampleRSS(pid int, interval time.Duration) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if m, err := readProcMem(pid); err == nil {
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

// stop ends the sampling and returns the peak VmRSS in KiB.
func (s *rssSampler) stop() int64 {
	close(s.stopc)
	s.wg.Wait()
	return s.peak
}

// ttl is a fragment's fresh and stale time in a bench configuration.
type ttl struct{ fresh, stale time.Duration }

// warmTTLs keeps every fragment of the scores page fresh for the whole run,
// so that "warm" means every include is a fresh hit and no background
// refresh runs mid-measure.
var warmTTLs = map[string]ttl{
	"nav":        {10 * time.Minute, 20 * time.Minute},
	"scoreboard": {10 * time.Minute, 20 * time.Minute},
	"score":      {10 * time.Minute, 20 * time.Minute},
	"footer":     {10 * time.Minute, 20 * time.Minute},
}

// scoresMissTTLs is warmTTLs with nothing ever fresh or stale for score:
// every score include misses every cache tier, while the scoreboard that
// places them (a primary include) stays warm.
var scoresMissTTLs = map[string]ttl{
	"nav":        {10 * time.Minute, 20 * time.Minute},
	"scoreboard": {10 * time.Minute, 20 * time.Minute},
	"score":      {0, 0},
	"footer":     {10 * time.Minute, 20 * time.Minute},
}

// benchConfig returns site (a site.yaml) with the fresh and stale times of
// ttls set, keeping everything else (budgets, timeouts, fallbacks, pages)
// as it is.
func benchConfig(site []byte, ttls map[string]ttl) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(site, &doc); err != nil {
		return nil, fmt.Errorf("benchsuite: site config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("benchsuite: site config: not a mapping")
	}
	root := doc.Content[0]
	frags := mapGet(root, "fragments")
	if frags == nil {
		frags = &yaml.Node{Kind: yaml.MappingNode}
		mapSet(root, "fragments", frags)
	}
	for _, name := range slices.Sorted(maps.Keys(ttls)) {
		f := mapGet(frags, name)
		if f == nil || f.Kind != yaml.MappingNode {
			f = &yaml.Node{Kind: yaml.MappingNode}
			mapSet(frags, name, f)
		}
		mapSet(f, "fresh", scalar(ttls[name].fresh.String()))
		mapSet(f, "stale", scalar(ttls[name].stale.String()))
	}
	return yaml.Marshal(&doc)
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

func mapGet(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mapSet(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}
