package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testPage = `<html><body><div data-fragment="a" data-outcome="hit">a</div>` +
	`<div data-fragment="b" data-outcome="stale">b</div></body></html>`

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(testPage))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestJSONWithFloor(t *testing.T) {
	srv := newServer(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{
		"-url", srv.URL + "/p?debug=1", "-c", "2", "-max-requests", "20", "-duration", "5s",
		"-expect-includes", "2", "-floor", "-json",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		Target, Floor struct {
			Requests, Errors int
			Outcomes         map[string]int64
		}
		Ratio float64 `json:"target_to_floor_throughput"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	for name, r := range map[string]struct {
		Requests, Errors int
		Outcomes         map[string]int64
	}{"target": out.Target, "floor": out.Floor} {
		if r.Requests != 20 || r.Errors != 0 || r.Outcomes["hit"] != 20 || r.Outcomes["stale"] != 20 {
			t.Errorf("%s: %+v", name, r)
		}
	}
	if out.Ratio <= 0 {
		t.Errorf("ratio = %v", out.Ratio)
	}
}

func TestTextRateMode(t *testing.T) {
	srv := newServer(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{
		"-url", srv.URL + "/a", "-url", srv.URL + "/b", "-rate", "100", "-duration", "300ms", "-warmup", "100ms",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"fixed rate, 100 req/s", srv.URL + "/b", "TTFB", "hit "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-c", "0"},
		{"-duration", "0s"},
		{"-rate", "-1"},
		{"extra"},
		{"-nosuchflag"},
		{"-H", "no colon"},
		{"-H", "bad name: x"},
		{"-H", "X-Ok: bad\x00value"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestUnreachableFloor(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-url", url, "-floor", "-max-requests", "1"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1; stderr %s", code, stderr.String())
	}
}

// TestHeader: -H fields reach the server, and a 304 to If-None-Match is
// no error.
func TestHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` && r.Header.Get("X-Trace") == "a" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte(testPage))
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", srv.URL, "-H", `If-None-Match: "v1"`, "-H", "x-trace:a",
		"-max-requests", "5", "-c", "1", "-json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		Target struct {
			Errors int
			Status map[string]int
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if out.Target.Errors != 0 || out.Target.Status["304"] != 5 {
		t.Errorf("%+v", out.Target)
	}
}
