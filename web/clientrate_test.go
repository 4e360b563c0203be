package web_test

import (
	"testing"
	"time"
)

// TestClientRate: with Options.ClientRate, a client past its rate gets
// 429 with Retry-After on any address, before the page runs; another
// client does not wait for it; the client may go on once its bucket has a
// token again.
func TestClientRate(t *testing.T) {
	clock := newClock()
	in := newInstance(t, instanceOpts{now: clock.now, ipHeader: "X-Forwarded-For", clientRate: 2})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	for _, p := range []string{"/echo/hello", "/static/site.css"} {
		if res, _ := getWith(t, in.ts.URL+p, from("192.0.2.1")); res.StatusCode != 200 {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
	}
	res, body := getWith(t, in.ts.URL+"/echo/hello", from("192.0.2.1"))
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" || doc(t, body).Find("h1").Length() != 1 {
		t.Fatalf("third request at once: %d, Retry-After %q; want a readable 429 with Retry-After 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res, _ := getWith(t, in.ts.URL+"/echo/hello", from("192.0.2.2")); res.StatusCode != 200 {
		t.Fatalf("another client: %d", res.StatusCode)
	}
	clock.add(500 * time.Millisecond)
	if res, _ := getWith(t, in.ts.URL+"/echo/hello", from("192.0.2.1")); res.StatusCode != 200 {
		t.Fatalf("after half a second at 2/s: %d", res.StatusCode)
	}
	off := newInstance(t, instanceOpts{now: clock.now})
	for range 10 {
		if res, _ := get(t, off.ts.URL+"/echo/hello"); res.StatusCode != 200 {
			t.Fatalf("no rate set: %d", res.StatusCode)
		}
	}
}
