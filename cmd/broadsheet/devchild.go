package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/a-h/templ/cmd/templ/generatecmd/proxy"
)

// child is one composer process dev mode started, and the proxy that sends
// the browsers' requests to it.
type child struct {
	cmd    *exec.Cmd
	addr   string
	proxy  *proxy.Handler
	tail   *tailBuffer
	exited chan struct{} // closed when it has exited
	err    error         // how it exited, once exited is closed
}

// Start and stop bounds.
const (
	startWithin = 20 * time.Second // from exec to answering /healthz
	stopWithin  = 3 * time.Second  // from SIGTERM to SIGKILL
)

// replaceChild starts bin beside the current child and, once it answers
// /healthz, makes it the current one and stops the old one in the
// background. With a fixed -app-addr the old one is stopped first: two
// cannot listen there at once.
func (d *devServer) replaceChild(ctx context.Context, bin string) error {
	addr := d.fixedAddr
	if addr == "" {
		var err error
		if addr, err = freeAddr(); err != nil {
			return err
		}
	} else {
		d.mu.Lock()
		old := d.current
		d.current = nil
		d.mu.Unlock()
		old.stop()
	}
	c, err := d.startChild(bin, addr)
	if err != nil {
		return err
	}
	if err := c.waitHealthy(ctx, startWithin); err != nil {
		c.stop()
		return fmt.Errorf("%s\n%w", c.tail.String(), err)
	}
	d.mu.Lock()
	old := d.current
	d.current = c
	d.mu.Unlock()
	go old.stop()
	go d.watchExit(c)
	return nil
}

// startChild runs bin on addr with templ's development mode on.
func (d *devServer) startChild(bin, addr string) (*child, error) {
	cmd := exec.Command(bin, append([]string{"-addr", addr}, d.childArgs...)...)
	cmd.Dir = d.root
	cmd.Env = append(os.Environ(), "TEMPL_DEV_MODE=true", "TEMPL_DEV_MODE_ROOT="+d.tmp)
	tail := &tailBuffer{max: 32 << 10}
	cmd.Stdout = io.MultiWriter(d.out, tail)
	cmd.Stderr = io.MultiWriter(d.errOut, tail)
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, addr: addr, tail: tail, exited: make(chan struct{}),
		proxy: proxy.New(d.log, d.host, d.port, &url.URL{Scheme: "http", Host: addr})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// watchExit shows the output of c in the browsers if it exits while it is
// the current child.
func (d *devServer) watchExit(c *child) {
	<-c.exited
	d.mu.Lock()
	current := d.current == c
	if current {
		d.current = nil
	}
	d.mu.Unlock()
	if current {
		d.fail("the composer exited", c.tail.String()+"\n"+fmt.Sprint(c.err))
	}
}

// stop stops c, if not nil: SIGTERM to the PID it started, then SIGKILL
// after stopWithin.
func (c *child) stop() {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(stopWithin):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// stopAll stops the current child.
func (d *devServer) stopAll() {
	d.mu.Lock()
	c := d.current
	d.current = nil
	d.mu.Unlock()
	c.stop()
}

// waitHealthy polls c's /healthz until it answers 200, c exits, ctx ends or
// limit passes.
func (c *child) waitHealthy(ctx context.Context, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.exited:
			return errors.New("it exited: " + fmt.Sprint(c.err))
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("no answer from http://%s/healthz within %v", c.addr, limit)
		case <-tick.C:
		}
		resp, err := client.Get("http://" + c.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
