package web_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

// TestExplorerExposure: site.explorer decides who sees the explorer: with
// "admin" (the default), only the admin token or session opens it (404
// when there is no admin at all), on the public listener and on the admin
// one; with "public", everyone.
func TestExplorerExposure(t *testing.T) {
	adminOnly := strings.Replace(tuneYAML, "explorer: public", "explorer: admin", 1)
	on := newInstance(t, instanceOpts{token: token, yaml: adminOnly})
	off := newInstance(t, instanceOpts{yaml: adminOnly})
	sep := newInstance(t, instanceOpts{token: token, yaml: adminOnly, separate: true})
	public := newInstance(t, instanceOpts{token: token})
	cookie := login(t, on.ts.URL, token)
	for _, p := range []string{"/_/fragments", "/_/fragments/echo", "/_/fragments/echo/render?word=hi", "/_/fragments/echo/source"} {
		for _, tc := range []struct {
			name, base string
			hdr        map[string]string
			want       int
		}{
			{"admin-only, anonymous", on.ts.URL, nil, 401},
			{"admin-only, wrong token", on.ts.URL, map[string]string{"Authorization": "Bearer nope"}, 401},
			{"admin-only, token", on.ts.URL, bearer(), 200},
			{"admin-only, session", on.ts.URL, map[string]string{"Cookie": cookie}, 200},
			{"admin-only, no admin", off.ts.URL, bearer(), 404},
			{"admin listener, anonymous", sep.admin.URL, nil, 401},
			{"admin listener, token", sep.admin.URL, bearer(), 200},
			{"public", public.ts.URL, nil, 200},
		} {
			res, _ := getWith(t, tc.base+p, tc.hdr)
			want := tc.want
			if strings.HasSuffix(p, "/source") && want == 200 {
				want = 404 // the test's fragments have no source file
			}
			if res.StatusCode != want {
				t.Errorf("%s %s: %d, want %d", tc.name, p, res.StatusCode, want)
			}
		}
	}
}

// hostError is what a remote fragment's error looks like: it names the
// service.
const hostError = "remote: 10.9.8.7:9101: status 500"

func failingSpec() *composer.Spec {
	return &composer.Spec{
		Name: "failing", Doc: "Fails, naming a host.", Version: "1",
		Render: func(context.Context, composer.Params) (templ.Component, error) {
			return nil, errors.New(hostError)
		},
		Defaults: composer.Settings{Timeout: time.Second, Fallback: "<p>fb</p>"},
	}
}

// TestRenderAloneIsLimited: a visitor other than the admin may render a
// fragment alone 5 times at once, then once a second (429 with
// Retry-After beyond), without holding other visitors up; the admin is not
// limited. Neither the render form nor the explorer's last error shows a
// visitor an error's text (which may name a host); the admin sees it.
func TestRenderAloneIsLimited(t *testing.T) {
	clock := newClock()
	yaml := tuneYAML + `  - name: failing
    path: /failing
    layout: plain
    includes:
      - {fragment: failing, slot: main}
`
	in := newInstance(t, instanceOpts{token: token, now: clock.now, ipHeader: "X-Forwarded-For", yaml: yaml, extra: []*composer.Spec{failingSpec()}})
	from := func(ip string, hdr ...map[string]string) map[string]string {
		m := map[string]string{"X-Forwarded-For": ip}
		for _, h := range hdr {
			for k, v := range h {
				m[k] = v
			}
		}
		return m
	}
	render := in.ts.URL + "/_/fragments/echo/render?word=hello"
	for i := range 5 {
		if res, _ := getWith(t, render, from("192.0.2.1")); res.StatusCode != 200 {
			t.Fatalf("render %d: %d, want 200", i+1, res.StatusCode)
		}
	}
	res, _ := getWith(t, render, from("192.0.2.1"))
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("sixth render at once: %d, Retry-After %q; want 429, 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res, _ := getWith(t, render, from("192.0.2.2")); res.StatusCode != 200 {
		t.Fatalf("another visitor: %d, want 200", res.StatusCode)
	}
	for i := range 10 {
		if res, _ := getWith(t, render, from("192.0.2.1", bearer())); res.StatusCode != 200 {
			t.Fatalf("admin render %d: %d, want 200", i+1, res.StatusCode)
		}
	}
	clock.add(time.Second)
	if res, _ := getWith(t, render, from("192.0.2.1")); res.StatusCode != 200 {
		t.Fatalf("a second later: %d, want 200", res.StatusCode)
	}

	// Error texts.
	get(t, in.ts.URL+"/failing")
	for i, tc := range []struct {
		path  string
		admin bool
	}{
		{"/_/fragments/failing/render", false},
		{"/_/fragments/failing/render", true},
		{"/_/fragments/failing", false},
		{"/_/fragments/failing", true},
		{"/_/fragments", false},
	} {
		hdr := from("198.51.100." + strconv.Itoa(i))
		if tc.admin {
			hdr = from("198.51.100."+strconv.Itoa(i), bearer())
		}
		_, body := getWith(t, in.ts.URL+tc.path, hdr)
		if got := strings.Contains(body, "10.9.8.7"); got != tc.admin {
			t.Errorf("%s (admin %v): shows the host: %v, want %v", tc.path, tc.admin, got, tc.admin)
		}
	}
}
