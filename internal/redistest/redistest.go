// Package redistest runs a real, throw-away redis-server for tests.
//
// Every test that talks to Redis starts its own server on a free loopback
// port with persistence off and its working directory under t.TempDir, so
// tests never share state, never touch a system Redis and leave nothing
// behind. The server is killed when the test ends.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Binary is the redis-server executable Start runs.
const Binary = "/usr/bin/redis-server"

// readyTimeout bounds how long Start and Restart wait for PING to answer.
const readyTimeout = 5 * time.Second

// Server is one redis-server process owned by a test. Its methods may be
// called from any goroutine, but Kill, Restart, Stop and Cont are meant to be
// driven by the test itself, one at a time.
type Server struct {
	t    testing.TB
	port int
	dir  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Start runs redis-server on a free 127.0.0.1 port with persistence off,
// passes args (extra "--name value" pairs) after the defaults, waits until it
// answers PING (at most 5 s) and registers a cleanup that kills it. It fails
// the test if the binary is missing; it never skips, so a CI run without
// Redis fails loudly instead of passing vacuously.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("redistest: %s not found (%v): install it with `apt-get install -y redis-server` "+
			"or run the project's test command, which does", Binary, err)
	}
	s := &Server{t: t, port: freePort(t), dir: t.TempDir(), args: args}
	t.Cleanup(s.Kill)
	s.start()
	return s
}

// freePort asks the kernel for a free loopback port. The port is released
// before redis-server binds it, so another process could take it in between;
// on loopback in a test sandbox that race is rare enough to accept.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("redistest: release port: %v", err)
	}
	return port
}

func (s *Server) start() {
	s.t.Helper()
	args := []string{
		"--save", "",
		"--appendonly", "no",
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(s.port),
		"--dir", s.dir,
		"--daemonize", "no",
		"--loglevel", "warning",
		"--logfile", "",
	}
	args = append(args, s.args...)
	cmd := exec.Command(Binary, args...)
	// redis-server logs to stdout; keep it out of the test output unless the
	// server fails to come up (then the test log says where to look).
	log, err := os.Create(s.dir + "/redis.log")
	if err != nil {
		s.t.Fatalf("redistest: create log: %v", err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		s.t.Fatalf("redistest: start %s: %v", Binary, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.waitReady(done); err != nil {
		s.Kill()
		out, _ := os.ReadFile(s.dir + "/redis.log")
		s.t.Fatalf("redistest: redis-server on %s not ready: %v\n%s", s.Addr(), err, out)
	}
}

// waitReady polls PING on a raw connection (no go-redis client, so nothing
// is left running) until it answers, the process exits or 5 s pass.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ping(s.Addr())
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", buf[:n])
	}
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Kill sends SIGKILL and waits for the process to exit. Killing a server that
// is not running does nothing, so Kill is safe to call twice.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port (killing it first if it
// still runs) and waits until it answers PING. Data is lost: persistence is
// off.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Stop freezes the server with SIGSTOP: connections stay open but nothing
// answers, which is how a hung Redis looks to a client.
func (s *Server) Stop() { s.signal(syscall.SIGSTOP) }

// Cont resumes a server frozen by Stop.
func (s *Server) Cont() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: signal %v: server is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: signal %v: %v", sig, err)
	}
}

// Client returns a go-redis client for the server, closed when the test
// ends. It uses go-redis defaults (not the tuned production options) except
// that it honours context deadlines, which go-redis ignores by default.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: ping %s: %v", s.Addr(), err)
	}
	return c
}
