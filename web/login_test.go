package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestAdminLoginBackoff: a client that keeps giving wrong tokens, by form
// or Bearer header, is answered 429 with Retry-After after five — even
// with the right token — until its backoff ends; other clients are not
// held up by one; and many clients failing together hold everyone up.
func TestAdminLoginBackoff(t *testing.T) {
	clock := newClock()
	in := newInstance(t, instanceOpts{token: token, now: clock.now, ipHeader: "X-Forwarded-For"})
	from := func(ip string, hdr map[string]string) map[string]string {
		m := map[string]string{"X-Forwarded-For": ip}
		for k, v := range hdr {
			m[k] = v
		}
		return m
	}
	formLogin := func(ip, tok string) *http.Response {
		res, _ := post(t, in.ts.URL+"/_/admin/login", url.Values{"token": {tok}}, from(ip, nil))
		return res
	}
	for i := range 6 {
		if res := formLogin("192.0.2.1", "guess"); res.StatusCode != 401 {
			t.Fatalf("wrong token %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	res := formLogin("192.0.2.1", token)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("right token while backing off: %d, Retry-After %q; want 429, 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res, _ := getWith(t, in.ts.URL+"/_/admin", from("192.0.2.1", bearer())); res.StatusCode != 429 {
		t.Fatalf("Bearer while backing off: %d, want 429", res.StatusCode)
	}
	if res := formLogin("192.0.2.2", token); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another client: %d, want 303", res.StatusCode)
	}
	clock.add(time.Second)
	if res, _ := getWith(t, in.ts.URL+"/_/admin", from("192.0.2.1", map[string]string{"Authorization": "Bearer guess"})); res.StatusCode != 401 {
		t.Fatalf("a wrong Bearer after the backoff: %d, want 401", res.StatusCode)
	}
	if res := formLogin("192.0.2.1", token); res.StatusCode != 429 || res.Header.Get("Retry-After") != "2" {
		t.Fatalf("the next wrong token doubles the backoff: %d, Retry-After %q; want 429, 2", res.StatusCode, res.Header.Get("Retry-After"))
	}
	clock.add(2 * time.Second)
	if res := formLogin("192.0.2.1", token); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("right token after the backoff: %d, want 303", res.StatusCode)
	}

	// Guesses spread over many addresses: 50 wrong tokens overall are
	// free, then everyone waits.
	clock.add(time.Hour)
	for i := range 43 { // 7 failures already counted above
		formLogin("198.51.100."+strconv.Itoa(i), "guess")
	}
	if res := formLogin("203.0.113.9", token); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after 50 wrong tokens overall: %d, want 303", res.StatusCode)
	}
	clock.add(time.Hour)
	for i := range 51 {
		formLogin("198.51.100."+strconv.Itoa(i), "guess")
	}
	if res := formLogin("203.0.113.9", token); res.StatusCode != 429 {
		t.Fatalf("after 51 wrong tokens from 51 addresses: %d, want 429", res.StatusCode)
	}
}
