package web_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestAdminListenerHardening: the admin listener's pages carry the site's
// security headers; pprof needs the admin token and never serves the
// command line; /_/events refuses cross-origin browser requests whatever
// their credentials, on either listener.
func TestAdminListenerHardening(t *testing.T) {
	var published atomic.Int64
	events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		published.Add(1)
		w.WriteHeader(http.StatusAccepted)
	})
	sep := newInstance(t, instanceOpts{token: token, separate: true, events: events})
	pub := newInstance(t, instanceOpts{token: token, events: events})

	for _, p := range []string{"/_/admin", "/debug/pprof/"} {
		for _, hdr := range []map[string]string{nil, bearer()} {
			res, _ := getWith(t, sep.admin.URL+p, hdr)
			csp := res.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || res.Header.Get("X-Frame-Options") != "DENY" ||
				res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("admin listener %s (token %v): %d, CSP %q, X-Frame-Options %q", p, hdr != nil, res.StatusCode, csp, res.Header.Get("X-Frame-Options"))
			}
		}
	}

	for _, tc := range []struct {
		path   string
		hdr    map[string]string
		status int
	}{
		{"/debug/pprof/", nil, 401},
		{"/debug/pprof/heap?debug=1", nil, 401},
		{"/debug/pprof/cmdline", nil, 401},
		{"/debug/pprof/", map[string]string{"Authorization": "Bearer wrong"}, 401},
		{"/debug/pprof/", bearer(), 200},
		{"/debug/pprof/heap?debug=1", bearer(), 200},
		{"/debug/pprof/cmdline", bearer(), 404},
	} {
		res, body := getWith(t, sep.admin.URL+tc.path, tc.hdr)
		if res.StatusCode != tc.status {
			t.Errorf("%s (token %v): %d, want %d", tc.path, tc.hdr != nil, res.StatusCode, tc.status)
		}
		if strings.Contains(body, token) || strings.Contains(body, "web.test") {
			t.Errorf("%s: the body gives the command line away", tc.path)
		}
	}

	ev := `{"topic":"x"}`
	for _, base := range []string{sep.admin.URL, pub.ts.URL} {
		for _, tc := range []struct {
			name   string
			hdr    map[string]string
			status int
		}{
			{"no token", nil, 401},
			{"cross-site", map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "cross-site"}, 403},
			{"foreign Origin", map[string]string{"Authorization": "Bearer " + token, "Origin": "https://evil.example"}, 403},
			{"same-origin", map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "same-origin"}, 202},
			{"a machine", bearer(), 202},
		} {
			before := published.Load()
			req, _ := http.NewRequest("POST", base+"/_/events", strings.NewReader(ev))
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("%s /_/events %s: %d, want %d", base, tc.name, res.StatusCode, tc.status)
			}
			if got := published.Load() - before; (tc.status == 202) != (got == 1) {
				t.Errorf("%s /_/events %s: published %d", base, tc.name, got)
			}
		}
	}
}
