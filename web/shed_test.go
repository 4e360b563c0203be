package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
)

// TestShedKeepsConnection: a page shed past MaxInFlight is a 503 with
// Retry-After on the client's kept-alive connection, which then serves the
// client's next request: shedding costs the client no new connection (a
// load balancer's pool, or a browser, keeps its connections), unlike the
// connection limit's 503, which closes.
func TestShedKeepsConnection(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	fail := func(w http.ResponseWriter, r *http.Request, status int, msg string) {
		w.WriteHeader(status)
		io.WriteString(w, msg)
	}
	h := guard(GuardOptions{MaxInFlight: 1}, fail)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		if resp, err := http.Get(srv.URL + "/slow"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-entered // the one page allowed is in flight

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	get := func() (status int, retryAfter string, reused bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused },
		}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Errorf("status %d: the server closes the connection", resp.StatusCode)
		}
		return resp.StatusCode, resp.Header.Get("Retry-After"), reused
	}
	if st, ra, _ := get(); st != 503 || ra == "" {
		t.Fatalf("while busy: status %d, Retry-After %q; want 503 with Retry-After", st, ra)
	}
	close(release)
	<-slowDone
	if st, _, reused := get(); st != 200 || !reused {
		t.Errorf("after the shed: status %d, connection reused %v; want 200 on the same connection", st, reused)
	}
}
