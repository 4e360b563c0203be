package remote_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/broadsheet/broadsheet/remote"
)

// TestRemoteNeverReceivesCredentials: a page request carrying a Cookie, an
// Authorization header and other client headers reaches a remote fragment
// service with none of them: the service sees only what the fragment's
// URL template and the client's own fixed headers say (least privilege
// per fragment). The page goes through web's full handler, as in
// production.
func TestRemoteNeverReceivesCredentials(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []http.Header
	)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<p class="promo">remote</p>`))
	}))
	defer svc.Close()
	c := remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	site := newSite(t, c, `
fragments:
  footer:
    remote: {url: "`+svc.URL+`/footer"}
pages:
  - name: home
    path: /
    title: Home
    layout: front
    includes:
      - {fragment: footer, slot: footer}
`)
	ts := webServer(t, site)

	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	secrets := map[string]string{
		"Cookie":          "session=s3cr3t; bs_reader=r34d3r",
		"Authorization":   "Bearer t0k3n",
		"X-Api-Key":       "k3y",
		"X-Forwarded-For": "10.0.0.1",
		"Referer":         "https://example.com/r3f",
	}
	for k, v := range secrets {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<p class="promo">remote</p>`) {
		t.Fatalf("status %d, body without the remote fragment: %s", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the fragment service was never called")
	}
	for _, h := range seen {
		for name := range secrets {
			if v := h.Get(name); v != "" {
				t.Errorf("fragment service received %s: %q", name, v)
			}
		}
		for name, vs := range h {
			for _, v := range vs {
				for _, s := range []string{"s3cr3t", "r34d3r", "t0k3n", "k3y", "r3f"} {
					if strings.Contains(v, s) {
						t.Errorf("fragment service received %q in %s: %q", s, name, v)
					}
				}
			}
		}
	}
}
