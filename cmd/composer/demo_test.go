package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/wait"
	"github.com/broadsheet/broadsheet/server"
)

// TestDemoServes runs the demo site as main does, through package server:
// the front page with its includes, the scores page with the demo's feed
// flags (from the command line and the environment), the explorer; then
// it stops when its context ends.
func TestDemoServes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("BROADSHEET_FEED_SLOW_EVERY", "0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, demo(), []string{"-addr", addr, "-feed-latency", "0", "-demo-league", "0", "-log-level", "error", "-drain", "0"})
	}()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	wait.Within(t, time.Minute, "the demo to be ready", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the demo stopped before serving: %v", err)
		default:
		}
		code, _ := get("/readyz")
		return code == 200
	})
	for path, want := range map[string]string{
		"/?debug=1":                             `data-fragment="lead"`,
		"/sport/football/scores?size=5&debug=1": `class="bs-board"`,
		"/_/fragments":                          `id="f-scoreboard"`,
	} {
		if code, body := get(path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want 200 with %s", path, code, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("the demo after its context ended: %v", err)
	}
}
