package web_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/web"
)

// breakerState is a shared tier reduced to its breaker's state, which is
// all /readyz reads of it.
type breakerState struct{ state atomic.Value }

func (b *breakerState) State() string { return b.state.Load().(string) }

// TestReadiness walks /readyz and /healthz through a composer's life:
// starting, serving, Redis down (required or not), draining. /healthz
// (liveness) answers 200 throughout; a page is served while draining.
func TestReadiness(t *testing.T) {
	_, site := demo(t)
	comp := composer.New(site, composer.Options{})
	defer comp.Close()
	redis := &breakerState{}
	redis.state.Store("closed")
	for _, required := range []bool{false, true} {
		srv := web.NewWithOptions(comp, web.Options{Logger: slog.New(slog.DiscardHandler), Redis: redis, RequireRedis: required})
		ts := httptest.NewServer(srv)
		for _, step := range []struct {
			name   string
			do     func()
			status int
			body   string
		}{
			{"starting", func() {}, 503, "starting"},
			{"serving", func() { srv.SetReady(true) }, 200, "ready"},
			{"redis down", func() { redis.state.Store("open") }, map[bool]int{false: 200, true: 503}[required], map[bool]string{false: "ready", true: "redis unavailable"}[required]},
			{"redis back", func() { redis.state.Store("closed") }, 200, "ready"},
			{"draining", srv.Drain, 503, "draining"},
		} {
			step.do()
			res, body := get(t, ts.URL+"/readyz")
			if res.StatusCode != step.status || strings.TrimSpace(body) != step.body {
				t.Errorf("RequireRedis %v, %s: /readyz %d %q, want %d %q", required, step.name, res.StatusCode, body, step.status, step.body)
			}
			if res, _ := get(t, ts.URL+"/healthz"); res.StatusCode != 200 {
				t.Errorf("RequireRedis %v, %s: /healthz %d, want 200 (the process is alive)", required, step.name, res.StatusCode)
			}
		}
		if res, _ := get(t, ts.URL+"/account"); res.StatusCode != 200 {
			t.Errorf("while draining, a page: %d, want 200", res.StatusCode)
		}
		ts.Close()
	}
}
