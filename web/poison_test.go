package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCachePoisoning: requests carrying unkeyed headers (X-Forwarded-Host,
// X-Original-URL, Forwarded…) and unkeyed query values are served first,
// so that whatever they produce lands in the cache; a clean request then
// gets exactly the page a clean request gets on a fresh server (timings
// and the CSP nonce masked), and nothing the attacker sent shows up in
// either.
func TestCachePoisoning(t *testing.T) {
	paths := []string{"/", "/sport/football/scores?size=5", "/weather/london"}
	hostile := map[string]string{
		"X-Forwarded-Host":       "evil.example",
		"X-Forwarded-Proto":      "javascript",
		"X-Forwarded-Prefix":     "/evil",
		"X-Host":                 "evil.example",
		"X-Original-URL":         "/_/admin",
		"X-Rewrite-URL":          "/_/admin",
		"Forwarded":              "host=evil.example;proto=http",
		"X-Http-Method-Override": "POST",
		"Accept-Language":        "xx-EVIL",
		"User-Agent":             "<script>evil()</script>",
		"Cookie":                 "bs_reader=evil; debug=1",
	}
	fetch := func(url string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	clean, _ := demo(t)
	poisoned, _ := demo(t)
	for _, p := range paths {
		_, want := fetch(clean.URL+p, nil)
		sep := "?"
		if strings.Contains(p, "?") {
			sep = "&"
		}
		unkeyed := sep + "utm_source=%3Cscript%3Eevil()%3C/script%3E&callback=evil&cb=evil.example"
		for range 2 { // twice: the second is served from what the first stored
			code, b := fetch(poisoned.URL+p+unkeyed, hostile)
			if code != 200 {
				t.Errorf("%s with hostile headers: status %d", p, code)
			}
			for _, s := range []string{"evil", "javascript:", "xx-EVIL"} {
				if strings.Contains(b, s) {
					t.Errorf("%s: the hostile request's page contains %q", p, s)
				}
			}
		}
		code, got := fetch(poisoned.URL+p, nil)
		if code != 200 {
			t.Errorf("%s clean after hostile: status %d", p, code)
		}
		if mg, mw := maskTimings(got), maskTimings(want); mg != mw {
			t.Errorf("%s: the clean page after hostile requests differs from a fresh server's:\n%s", p, firstDiff(mg, mw))
		}
	}
}

// firstDiff shows where a and b first differ.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return "got:  …" + a[lo:min(len(a), i+80)] + "…\nwant: …" + b[lo:min(len(b), i+80)] + "…"
}
