package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	fail := func(w http.ResponseWriter, r *http.Request, status int, msg string) {
		w.WriteHeader(status)
		w.Write([]byte("<!doctype html><h1>" + msg + "</h1>"))
	}
	h := guard(GuardOptions{}, fail)(ok)
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/", 200},
		{"/weather/london?debug=1&size=100", 200},
		{"/" + strings.Repeat("a", 5000), 414},
		{"/weather/..%2f..%2fetc%2fpasswd", 400},
		{"/weather/%2e%2e/x", 400},
		{"/static/..%5c..%5cx", 400},
		{"/weather/%ff", 400},
		{"/?size=1&size=2", 400},
		{"/?" + strings.Repeat("a=1&", 40), 400},
		{"/?city=%0d%0aSet-Cookie:%20x=1", 400},
		{"/?city=%ff", 400},
		{"/?city=%zz", 400},
		{"/?city=%3Cscript%3E", 200}, // the fragment's own validation handles it
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://x"+tc.target, nil)
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.target, rec.Code, tc.status)
		}
		if tc.status != 200 && !strings.Contains(rec.Body.String(), "<h1>") {
			t.Errorf("%s: not a readable page", tc.target)
		}
	}
}

func TestGuardShedsOverload(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	fail := func(w http.ResponseWriter, r *http.Request, status int, msg string) { w.WriteHeader(status) }
	h := guard(GuardOptions{MaxInFlight: 2}, fail)(slow)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) })
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("third page at once: %d (Retry-After %q), want a 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(release)
	wg.Wait()
}

func FuzzGuard(f *testing.F) {
	for _, s := range []string{"/", "/weather/london?x=1", "/a/..%2fb", "/?a=1&a=2", "/%ff"} {
		f.Add(s)
	}
	fail := func(w http.ResponseWriter, r *http.Request, status int, msg string) { w.WriteHeader(status) }
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.NewRequest("GET", "http://x"+target, nil)
		if err != nil {
			return
		}
		req.RequestURI = target
		var reached bool
		h := guard(GuardOptions{}, fail)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = true
			if !cleanText(r.URL.Path) && strings.ContainsAny(r.URL.Path, "\r\n") {
				t.Fatalf("control characters reached a page: %q", r.URL.Path)
			}
			q := r.URL.Query()
			for k, vs := range q {
				if len(vs) != 1 || !cleanText(k) || !cleanText(vs[0]) {
					t.Fatalf("a hostile query reached a page: %q", r.URL.RawQuery)
				}
			}
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !reached && (rec.Code < 400 || rec.Code >= 500 && rec.Code != 503) {
			t.Fatalf("refused with %d", rec.Code)
		}
	})
}
