package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/internal/fragsim"
	"github.com/broadsheet/broadsheet/internal/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs the command in process with args and returns its base URL
// and a function that stops it and returns run's error.
func start(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw)
		pw.Close()
		errc <- err
	}()
	line, err := harness.FirstLine(pr, 10*time.Second)
	if err != nil {
		cancel()
		t.Fatal(err, <-errc)
	}
	base, ok := strings.CutPrefix(line, "fragsim: serving ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	return base, func() error { cancel(); return <-errc }
}

func TestServes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h2c   bool
		proto int
	}{{"http1", false, 1}, {"h2c", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-latency", "0", "-slow-every", "3", "-slow-latency", "0", "-bytes", "120", "-gen", "b"}
			if tc.h2c {
				args = append(args, "-h2c")
			}
			base, stop := start(t, args...)
			tr := &http.Transport{}
			if tc.h2c {
				var p http.Protocols
				p.SetUnencryptedHTTP2(true)
				tr.Protocols = &p
			}
			client := &http.Client{Transport: tr}
			for _, c := range []struct{ path, cc string }{{"/frag/1", "max-age=30"}, {"/frag/2", "max-age=0, no-store"}} {
				resp, err := client.Get(base + c.path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.ProtoMajor != tc.proto || len(body) != 120 ||
					resp.Header.Get("Cache-Control") != c.cc || !strings.Contains(string(body), `data-gen="b"`) {
					t.Errorf("%s: %s %s, Cache-Control %q, %d bytes %q", c.path, resp.Proto, resp.Status, resp.Header.Get("Cache-Control"), len(body), body)
				}
			}
			resp, err := client.Get(base + "/stats")
			if err != nil {
				t.Fatal(err)
			}
			var st fragsim.Stats
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err != nil || st.Connections != 1 || st.Requests != 2 {
				t.Errorf("/stats: %+v (%v), want one connection for both requests", st, err)
			}
			tr.CloseIdleConnections()
			if err := stop(); err != nil {
				t.Fatalf("run after cancel: %v", err)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-slow-every", "0", "-cache-control", "", "-h2c"})
	if err != nil {
		t.Fatal(err)
	}
	if o.sim.SlowEvery != 0 || o.sim.CacheControl != "" || !o.h2c || o.sim.Latency != 5*time.Millisecond || o.sim.Bytes != 200 {
		t.Fatalf("options = %+v", o)
	}
	for _, bad := range [][]string{{"-latency", "x"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
	for _, bad := range [][]string{{"-gen", "a b"}, {"-latency", "-1s"}, {"-addr", "256.0.0.1:1"}} {
		if err := run(t.Context(), bad, io.Discard); err == nil {
			t.Errorf("run(%q): no error", bad)
		}
	}
}
