package web_test

import (
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/web"
)

func TestSecurityHeaders(t *testing.T) {
	ts, _ := demo(t)
	res, body := get(t, ts.URL+"/weather/london?debug=1")
	csp := res.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	// The overlay's inline script carries this response's nonce, and no
	// other inline script is on the page.
	scripts := regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1)
	for _, s := range scripts {
		if !strings.Contains(s, `nonce="`+m[1]+`"`) && !strings.Contains(s, "src=") {
			t.Errorf("inline script without the nonce: %s", s)
		}
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"} {
		if res.Header.Get(h) != want {
			t.Errorf("%s = %q", h, res.Header.Get(h))
		}
	}
}

func TestHostileRequestsGetClean4xx(t *testing.T) {
	ts, _ := demo(t)
	for _, target := range []string{
		"/weather/..%2f..%2fetc%2fpasswd", "/?debug=1&debug=1", "/weather/%ff",
		"/sport/football/scores?size=%0d%0aSet-Cookie:%20x", "/" + strings.Repeat("x", 5000),
	} {
		res, body := get(t, ts.URL+target)
		if res.StatusCode < 400 || res.StatusCode >= 500 || !strings.Contains(body, "<h1") {
			t.Errorf("%s: %d, want a readable 4xx", target, res.StatusCode)
		}
		if strings.Contains(res.Header.Get("Set-Cookie"), "x") {
			t.Errorf("%s: header injected", target)
		}
	}
	// A param carrying markup is refused by the fragment's validation and
	// never reflected.
	_, body := get(t, ts.URL+"/weather/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
	if strings.Contains(body, "<script>alert") {
		t.Fatal("a param was reflected unescaped")
	}
}

func TestReaderSeesOnlyTheirTeams(t *testing.T) {
	ts, _ := demo(t)
	signIn := func(name string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		req, _ := http.NewRequest("POST", ts.URL+"/account", strings.NewReader(url.Values{"name": {name}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 { // followed the 303 to /
			t.Fatalf("sign-in as %s: %d", name, res.StatusCode)
		}
		return c
	}
	alice, bob := signIn("alice"), signIn("bob")
	page := func(c *http.Client) string {
		res, err := c.Get(ts.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	for range 5 {
		a, b := page(alice), page(bob)
		if !strings.Contains(a, "Signed in as <strong>alice</strong>") || strings.Contains(a, ">bob<") {
			t.Fatalf("alice's page: %s", a)
		}
		if !strings.Contains(b, "Signed in as <strong>bob</strong>") || strings.Contains(b, ">alice<") {
			t.Fatalf("bob's page: %s", b)
		}
	}
	// A forged cookie is nobody.
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(ts.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "bs_reader", Value: "YWxpY2U.forged"}})
	if p := page(&http.Client{Jar: jar}); strings.Contains(p, "alice") {
		t.Fatal("a forged reader cookie was believed")
	}
	// A cross-site sign-in POST is refused.
	req, _ := http.NewRequest("POST", ts.URL+"/account", strings.NewReader("name=mallory"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site sign-in: %d", res.StatusCode)
	}
}

func TestDebugOverlayNeedsSiteOrToken(t *testing.T) {
	_, site := demo(t)
	site.Limits.Debug = false
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage, Overlay: templates.DebugOverlay})
	defer comp.Close()
	srv := web.NewWithOptions(comp, web.Options{AdminToken: "tok"})
	for _, tc := range []struct {
		auth string
		want bool
	}{{"", false}, {"Bearer wrong", false}, {"Bearer tok", true}} {
		req, _ := http.NewRequest("GET", "/weather/london?debug=1", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := newRecorder()
		srv.ServeHTTP(rec, req)
		if got := strings.Contains(rec.Body.String(), "data-outcome="); got != tc.want {
			t.Errorf("auth %q: overlay %v, want %v", tc.auth, got, tc.want)
		}
	}
}

// TestCSPFollowsTheSite checks that the policy is the site's: the sources
// site.yaml adds and the origins of its fragments' assets, and that a
// reload brings the new site's.
func TestCSPFollowsTheSite(t *testing.T) {
	_, site := demo(t)
	site.CSP = map[string][]string{"img-src": {"https://images.example"}}
	comp := composer.New(site, composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage})
	defer comp.Close()
	srv := web.New(comp, nil)
	policy := func() string {
		rec := newRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/weather/london", nil))
		return rec.Header().Get("Content-Security-Policy")
	}
	if p := policy(); !strings.Contains(p, "img-src 'self' data: https://images.example;") {
		t.Errorf("CSP %q", p)
	}
	next := *site
	next.CSP = nil
	next.Fragments = maps.Clone(site.Fragments)
	f := *next.Fragments["weather"]
	spec := *f.Spec
	spec.AssetOrigins = []string{"https://cdn.example"}
	f.Spec = &spec
	next.Fragments["weather"] = &f
	srv.Reload(&next)
	if p := policy(); strings.Contains(p, "images.example") || !strings.Contains(p, "style-src 'self' 'unsafe-inline' https://cdn.example;") ||
		!regexp.MustCompile(`script-src 'self' https://cdn\.example 'nonce-[^']+';`).MatchString(p) {
		t.Errorf("after reload, CSP %q", p)
	}
}
