package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/redistest"
)

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// login signs in to base's admin page with the form and returns the
// session cookie ("name=value").
func login(t *testing.T, base, tok string) string {
	t.Helper()
	res, body := post(t, base+"/_/admin/login", url.Values{"token": {tok}}, nil)
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v\n%s", res.StatusCode, res.Cookies(), body)
	}
	c := res.Cookies()[0]
	return c.Name + "=" + c.Value
}

// adminStatus is the status of the admin page with cookie.
func adminStatus(t *testing.T, base, cookie string) int {
	t.Helper()
	res, _ := getWith(t, base+"/_/admin", map[string]string{"Cookie": cookie})
	return res.StatusCode
}

// TestAdminSessionsExpireAndEnd: every log-in gives a new session; a
// session ends at log-out (its cookie, replayed, no longer opens the admin
// page), 12 hours after its log-in, and when the token changes. With
// Redis the sessions are shared: a log-in on one instance opens the
// other, a log-out on one ends it on both.
func TestAdminSessionsExpireAndEnd(t *testing.T) {
	clock := newClock()
	in := newInstance(t, instanceOpts{token: token, now: clock.now})
	a, b := login(t, in.ts.URL, token), login(t, in.ts.URL, token)
	if a == b {
		t.Fatal("two log-ins gave the same session cookie")
	}
	if adminStatus(t, in.ts.URL, a) != 200 || adminStatus(t, in.ts.URL, b) != 200 {
		t.Fatal("a fresh session does not open the admin page")
	}
	res, _ := post(t, in.ts.URL+"/_/admin/logout", nil, map[string]string{"Cookie": a, "Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("log-out: %d", res.StatusCode)
	}
	if got := adminStatus(t, in.ts.URL, a); got != 401 {
		t.Errorf("the logged-out cookie, replayed: %d, want 401", got)
	}
	if got := adminStatus(t, in.ts.URL, b); got != 200 {
		t.Errorf("another session after one log-out: %d, want 200", got)
	}
	clock.add(12*time.Hour - time.Second)
	if got := adminStatus(t, in.ts.URL, b); got != 200 {
		t.Errorf("a session just under 12 h old: %d, want 200", got)
	}
	clock.add(time.Second)
	if got := adminStatus(t, in.ts.URL, b); got != 401 {
		t.Errorf("a 12 h old session: %d, want 401", got)
	}

	rs := redistest.Start(t)
	one := newInstance(t, instanceOpts{token: token, redis: rs})
	two := newInstance(t, instanceOpts{token: token, redis: rs})
	rotated := newInstance(t, instanceOpts{token: "a-new-token", redis: rs})
	c := login(t, one.ts.URL, token)
	if adminStatus(t, two.ts.URL, c) != 200 {
		t.Fatal("a session made on one instance does not open the other")
	}
	if got := adminStatus(t, rotated.ts.URL, c); got != 401 {
		t.Errorf("a session made under the old token, on an instance with a new one: %d, want 401", got)
	}
	post(t, two.ts.URL+"/_/admin/logout", nil, map[string]string{"Cookie": c, "Sec-Fetch-Site": "same-origin"})
	if got := adminStatus(t, one.ts.URL, c); got != 401 {
		t.Errorf("after log-out on the other instance: %d, want 401", got)
	}
}

// readerOf returns who base's /account says reads with cookie ("" for
// nobody).
func readerOf(t *testing.T, base, cookie string) string {
	t.Helper()
	_, body := getWith(t, base+"/account", map[string]string{"Cookie": cookie})
	return doc(t, body).Find("main strong").Text()
}

// signInCookie signs in as name and returns the reader cookie.
func signInCookie(t *testing.T, base, name string) string {
	t.Helper()
	res, _ := post(t, base+"/account", url.Values{"name": {name}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
		t.Fatalf("sign-in: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	return res.Cookies()[0].Name + "=" + res.Cookies()[0].Value
}

// TestReaderCookieExpiresRotatesAndSignsOut: each sign-in issues a new
// cookie; a cookie lives 30 days from its issue; one signed out is dead
// even replayed; one signed by the previous key is accepted while that key
// is configured as previous, and by no one else; a cookie with its issue
// time or name changed is refused.
func TestReaderCookieExpiresRotatesAndSignsOut(t *testing.T) {
	clock := newClock()
	in := newInstance(t, instanceOpts{now: clock.now, readerKeys: [2]string{"old-key", ""}})
	a, b := signInCookie(t, in.ts.URL, "alice"), signInCookie(t, in.ts.URL, "alice")
	if a == b {
		t.Fatal("two sign-ins gave the same cookie")
	}
	if got := readerOf(t, in.ts.URL, a); got != "alice" {
		t.Fatalf("fresh cookie: reader %q", got)
	}

	// Tampering: the issue time moved forward, another name.
	parts := strings.Split(strings.TrimPrefix(a, "bs_reader="), ".")
	moved := "bs_reader=" + parts[0] + "." + "9" + parts[1][1:] + "." + parts[2] + "." + parts[3]
	renamed := "bs_reader=Ym9i." + strings.Join(parts[1:], ".")
	for _, c := range []string{moved, renamed, "bs_reader=YWxpY2U.forged", "bs_reader=" + parts[0] + "." + parts[3]} {
		if got := readerOf(t, in.ts.URL, c); got != "" {
			t.Errorf("tampered cookie %s: reader %q", c, got)
		}
	}

	// Sign-out kills the value, not only the browser's copy.
	res, _ := post(t, in.ts.URL+"/account/signout", nil, map[string]string{"Cookie": a, "Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", res.StatusCode)
	}
	if got := readerOf(t, in.ts.URL, a); got != "" {
		t.Errorf("signed-out cookie, replayed: reader %q", got)
	}
	if got := readerOf(t, in.ts.URL, b); got != "alice" {
		t.Errorf("another cookie of the same reader after one sign-out: %q", got)
	}

	// Rotation: "old-key" becomes the previous key.
	newer := newInstance(t, instanceOpts{now: clock.now, readerKeys: [2]string{"new-key", "old-key"}})
	stranger := newInstance(t, instanceOpts{now: clock.now, readerKeys: [2]string{"new-key", ""}})
	if got := readerOf(t, newer.ts.URL, b); got != "alice" {
		t.Errorf("cookie signed by the previous key: reader %q, want alice", got)
	}
	if got := readerOf(t, stranger.ts.URL, b); got != "" {
		t.Errorf("cookie signed by a key no longer configured: reader %q", got)
	}
	c := signInCookie(t, newer.ts.URL, "carol")
	if got := readerOf(t, stranger.ts.URL, c); got != "carol" {
		t.Errorf("the rotated instance signs with the new key: reader %q on an instance with only it", got)
	}

	// Expiry.
	clock.add(30*24*time.Hour - time.Second)
	if got := readerOf(t, in.ts.URL, b); got != "alice" {
		t.Errorf("a cookie just under 30 days old: reader %q", got)
	}
	clock.add(time.Second)
	if got := readerOf(t, in.ts.URL, b); got != "" {
		t.Errorf("a 30-day-old cookie: reader %q", got)
	}
}
