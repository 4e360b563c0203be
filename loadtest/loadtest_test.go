package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer/compress"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// page builds a composed page with n includes of the given outcome.
func page(n int, outcome string) []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html>\n<html><head><title>t</title></head><body>\n")
	for i := range n {
		fmt.Fprintf(&b, `<div data-fragment="frag/%d" data-outcome="%s">fragment %d</div>`+"\n", i, outcome, i)
	}
	b.WriteString("</body></html>\n\n")
	return b.Bytes()
}

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestCompletePages(t *testing.T) {
	body := page(50, "hit")
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(body)
	})
	rep, err := Run(t.Context(), Config{
		URLs: []string{srv.URL + "/a?debug=1"}, Concurrency: 4, MaxRequests: 40,
		Duration: time.Minute, ExpectIncludes: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 40 || rep.Errors != 0 || rep.Incomplete != 0 || rep.Status[200] != 40 {
		t.Fatalf("requests %d errors %d incomplete %d status %v", rep.Requests, rep.Errors, rep.Incomplete, rep.Status)
	}
	if got := rep.Outcomes["hit"]; got != 40*50 {
		t.Errorf("hit outcomes = %d, want %d", got, 40*50)
	}
	if got := rep.Outcomes["miss"]; got != 0 {
		t.Errorf("miss outcomes = %d, want 0", got)
	}
	if rep.Fragments != 40*50 || rep.Bytes != int64(40*len(body)) {
		t.Errorf("fragments %d bytes %d", rep.Fragments, rep.Bytes)
	}
	if rep.TTLB.Max <= 0 || rep.TTFB.P50 > rep.TTLB.Max || rep.Throughput <= 0 {
		t.Errorf("implausible figures: %+v", rep)
	}
}

func TestMissingIncludesAreIncomplete(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(page(9, "miss")) })
	rep, err := Run(t.Context(), Config{URLs: []string{srv.URL}, MaxRequests: 5, ExpectIncludes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 5 || rep.Incomplete != 5 || rep.Errors != 5 || rep.Outcomes["miss"] != 45 {
		t.Fatalf("requests %d incomplete %d errors %d outcomes %v", rep.Requests, rep.Incomplete, rep.Errors, rep.Outcomes)
	}
}

// TestErrorsCountedExactly serves, in turn, a complete page, a 500, and a
// truncated page (no </html>), and expects exactly a third of each.
func TestErrorsCountedExactly(t *testing.T) {
	body := page(20, "stale")
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			w.Write(body)
		case 1:
			http.Error(w, "boom", http.StatusInternalServerError)
		case 2:
			w.Write(body[:len(body)/2])
		}
	})
	rep, err := Run(t.Context(), Config{URLs: []string{srv.URL}, Concurrency: 3, MaxRequests: 30, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 30 || rep.Errors != 20 || rep.Non2xx != 10 || rep.Incomplete != 10 || rep.TransportErrors != 0 {
		t.Fatalf("requests %d errors %d non2xx %d incomplete %d transport %d",
			rep.Requests, rep.Errors, rep.Non2xx, rep.Incomplete, rep.TransportErrors)
	}
	if rep.Status[200] != 20 || rep.Status[500] != 10 {
		t.Errorf("status = %v", rep.Status)
	}
}

func TestTransportErrors(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		// Promise more than is sent, then drop the connection.
		w.Header().Set("Content-Length", "100000")
		w.Write([]byte("<html>"))
		panic(http.ErrAbortHandler)
	})
	rep, err := Run(t.Context(), Config{URLs: []string{srv.URL}, MaxRequests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 3 || rep.TransportErrors != 3 || rep.Errors != 3 || len(rep.ErrorSamples) == 0 {
		t.Fatalf("requests %d transport %d errors %d samples %v", rep.Requests, rep.TransportErrors, rep.Errors, rep.ErrorSamples)
	}
}

func TestMaxRequestsExactClosedLoop(t *testing.T) {
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write(page(1, "hit"))
	})
	for _, c := range []int{1, 7, 32} {
		served.Store(0)
		rep, err := Run(t.Context(), Config{URLs: []string{srv.URL}, Concurrency: c, MaxRequests: 97, Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Requests != 97 || served.Load() != 97 {
			t.Errorf("c=%d: recorded %d, served %d, want 97", c, rep.Requests, served.Load())
		}
	}
}

func TestRoundRobin(t *testing.T) {
	var a, b atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { a.Add(1); w.Write(page(1, "hit")) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) { b.Add(1); w.Write(page(1, "miss")) })
	srv := newServer(t, mux.ServeHTTP)
	rep, err := Run(t.Context(), Config{URLs: []string{srv.URL + "/a", srv.URL + "/b"}, Concurrency: 2, MaxRequests: 10})
	if err != nil {
		t.Fatal(err)
	}
	if a.Load() != 5 || b.Load() != 5 || rep.Outcomes["hit"] != 5 || rep.Outcomes["miss"] != 5 {
		t.Errorf("a %d b %d outcomes %v", a.Load(), b.Load(), rep.Outcomes)
	}
}

func TestDurationAndWarmup(t *testing.T) {
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(10 * time.Millisecond)
		w.Write(page(1, "hit"))
	})
	start := time.Now()
	rep, err := Run(t.Context(), Config{URLs: []string{srv.URL}, Concurrency: 2, Duration: 200 * time.Millisecond, Warmup: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 10*time.Second {
		t.Errorf("run took %v", took)
	}
	if rep.Requests == 0 || int64(rep.Requests) >= served.Load() {
		t.Errorf("recorded %d of %d served; warm-up requests must not be recorded", rep.Requests, served.Load())
	}
}

func TestFixedRate(t *testing.T) {
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.Write(page(3, "fallback"))
	})
	rep, err := Run(t.Context(), Config{URLs: []string{srv.URL}, Rate: 200, Duration: 500 * time.Millisecond, ExpectIncludes: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests < 50 || rep.Requests > 150 {
		t.Errorf("sent %d requests at 200/s for 0.5s, want about 100", rep.Requests)
	}
	if rep.Errors != 0 || rep.Outcomes["fallback"] != int64(3*rep.Requests) || rep.Mode != "rate" {
		t.Errorf("errors %d outcomes %v mode %s", rep.Errors, rep.Outcomes, rep.Mode)
	}
	if rep.TTFB.Max <= 0 || rep.TTFB.P50 > rep.TTLB.Max || rep.Bytes == 0 {
		t.Errorf("ttfb %+v ttlb %+v bytes %d", rep.TTFB, rep.TTLB, rep.Bytes)
	}
}

func TestFixedRateErrorsAndMaxRequests(t *testing.T) {
	body := page(2, "timeout")
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			w.Write(body)
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Write(body[:len(body)-20])
		}
	})
	rep, err := Run(t.Context(), Config{URLs: []string{srv.URL}, Rate: 500, MaxRequests: 30, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 30 || n.Load() != 30 || rep.Non2xx != 10 || rep.Incomplete != 10 || rep.Errors != 20 {
		t.Fatalf("requests %d served %d non2xx %d incomplete %d errors %d",
			rep.Requests, n.Load(), rep.Non2xx, rep.Incomplete, rep.Errors)
	}
}

func TestCancelStopsRun(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	for _, rate := range []int{0, 100} {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		start := time.Now()
		rep, err := Run(ctx, Config{URLs: []string{srv.URL}, Concurrency: 4, Rate: rate, Duration: time.Minute})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("rate %d: cancelled run took %v", rate, took)
		}
		if rep.Errors != 0 {
			t.Errorf("rate %d: aborted requests counted as errors: %+v", rate, rep)
		}
	}
}

func TestFloor(t *testing.T) {
	body := page(30, "placeholder")
	for _, chunked := range []bool{false, true} {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if !chunked {
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			}
			w.Write(body[:100])
			w.(http.Flusher).Flush()
			w.Write(body[100:])
		})
		p, err := FetchPage(t.Context(), nil, srv.URL+"/x?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		if p.Chunked != chunked || p.RequestURI != "/x?debug=1" || !bytes.Equal(p.Body, body) {
			t.Fatalf("chunked %v uri %q body equal %v", p.Chunked, p.RequestURI, bytes.Equal(p.Body, body))
		}

		floor := FloorServer(p)
		resp, err := http.Get(floor.URL + "/x?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
			(resp.ContentLength < 0) != chunked {
			t.Errorf("floor: equal %v type %q length %d", bytes.Equal(got, body), resp.Header.Get("Content-Type"), resp.ContentLength)
		}
		http.DefaultClient.CloseIdleConnections()
		floor.Close()

		rep, err := RunFloor(t.Context(), Config{URLs: []string{srv.URL + "/x?debug=1"}, Concurrency: 2, MaxRequests: 20, ExpectIncludes: 30})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Requests != 20 || rep.Errors != 0 || rep.Outcomes["placeholder"] != 600 || strings.HasPrefix(rep.URLs[0], srv.URL) {
			t.Errorf("floor run: %+v", rep)
		}
	}
}

func TestReportOutput(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(page(4, "hit")) })
	rep, err := Run(t.Context(), Config{URLs: []string{srv.URL}, MaxRequests: 3})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"requests", "throughput", "TTFB", "TTLB", "hit 12", "200×3"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded["requests"] != 3.0 || decoded["ttlb"].(map[string]any)["p99_ms"] == nil {
		t.Errorf("json report: %s", raw)
	}
}

// TestReportJSONRoundTrip: a report written as JSON reads back as the same
// report (but its pages), so that a results file can be reported again.
func TestReportJSONRoundTrip(t *testing.T) {
	want := &Report{
		URLs: []string{"http://127.0.0.1:1/p"}, Mode: "closed", Concurrency: 16, Warmup: 1500 * time.Millisecond,
		Requests: 10, Errors: 3, TransportErrors: 1, Non2xx: 1, Incomplete: 1,
		Status:       map[int]int{200: 8, 503: 1},
		ErrorSamples: map[string]int{"connection reset": 1},
		Outcomes:     map[string]int64{"hit": 40}, Fragments: 40, Markers: map[string]int64{"x": 2}, Bytes: 4096,
		Elapsed: 4 * time.Second, Throughput: 2.5, BytesPerSecond: 1024,
		TTFB: Percentiles{P50: 1234 * time.Microsecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 4 * time.Millisecond, Mean: 1500 * time.Microsecond},
		TTLB: Percentiles{P50: 1301 * time.Microsecond, P90: 2100 * time.Microsecond, P99: 13 * time.Millisecond, Max: time.Second, Mean: 1600 * time.Microsecond},
	}
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, *want)
	}
	for _, bad := range []string{`{"status": {"ok": 1}}`, `{"ttlb": {"p50_ms": "fast"}}`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{URLs: []string{"http://127.0.0.1:1/"}},
		{URLs: []string{"::"}, MaxRequests: 1},
		{URLs: []string{"http://127.0.0.1:1/"}, MaxRequests: -1, Duration: time.Second},
	} {
		if _, err := Run(t.Context(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
}

// TestScanBodyChunking checks that markers split across reads are counted
// exactly once, whatever the read sizes.
func TestScanBodyChunking(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("<html>")
	want := map[string]int64{}
	rng := rand.New(rand.NewPCG(1, 2))
	names := outcomeNames[:]
	for i := range 3000 {
		name := names[rng.IntN(len(names))]
		if name == "other" {
			name = "weird-value"
		}
		key := name
		if outcomeIndex([]byte(name)) == outcomeOther {
			key = "other"
		}
		want[key]++
		fmt.Fprintf(&b, `<section data-fragment="f%d" data-outcome="%s">%s</section>`, i, name, strings.Repeat("x", rng.IntN(40)))
	}
	fmt.Fprintf(&b, `<p data-outcome="%s">malformed</p>`, strings.Repeat("z", 100))
	b.WriteString("</HTML> \n\t ")
	body := b.Bytes()

	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(body) },
		"one-byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(body)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(body)) },
		"random":   func() io.Reader { return &randomReader{r: bytes.NewReader(body), rng: rand.New(rand.NewPCG(3, 4))} },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			var res pageScan
			if err := scanBody(mk(), make([]byte, 256), nil, &res); err != nil {
				t.Fatal(err)
			}
			if res.Bytes != int64(len(body)) || res.Fragments != 3000 || !res.EndsHTML {
				t.Errorf("bytes %d fragments %d endsHTML %v", res.Bytes, res.Fragments, res.EndsHTML)
			}
			for i, n := range res.Outcomes {
				if n != want[outcomeNames[i]] {
					t.Errorf("outcome %s = %d, want %d", outcomeNames[i], n, want[outcomeNames[i]])
				}
			}
		})
	}
}

func TestScanBodyTail(t *testing.T) {
	for body, want := range map[string]bool{
		"<html></html>":        true,
		"<html></html>\n \n":   true,
		"<html></ht":           false,
		"<html></ht ml>":       false,
		"<html></html><div>":   false,
		"":                     false,
		"</html>":              true,
		"x</html>\r\n\r\n\r\n": true,
	} {
		for _, mk := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
		} {
			var res pageScan
			if err := scanBody(mk(strings.NewReader(body)), make([]byte, 64), nil, &res); err != nil {
				t.Fatal(err)
			}
			if res.EndsHTML != want {
				t.Errorf("%q: EndsHTML = %v, want %v", body, res.EndsHTML, want)
			}
		}
	}
}

// randomReader returns reads of random sizes from 1 to 300 bytes.
type randomReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	return r.r.Read(p[:min(len(p), 1+r.rng.IntN(300))])
}

func BenchmarkScanBody(b *testing.B) {
	body := page(2000, "hit")
	buf := make([]byte, scanBufferSize)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var res pageScan
		if err := scanBody(bytes.NewReader(body), buf, nil, &res); err != nil || res.Fragments != 2000 {
			b.Fatal(err, res.Fragments)
		}
	}
}

// BenchmarkRunFloor measures the load client against an in-memory server:
// the figure is the client-side ceiling on this machine.
func BenchmarkRunFloor(b *testing.B) {
	srv := FloorServer(Page{RequestURI: "/", ContentType: "text/html", Chunked: true, Body: page(2000, "hit")})
	defer srv.Close()
	b.ResetTimer()
	rep, err := Run(context.Background(), Config{URLs: []string{srv.URL + "/"}, Concurrency: 4, MaxRequests: b.N, ExpectIncludes: 2000})
	if err != nil || rep.Errors != 0 {
		b.Fatal(err, rep.Errors)
	}
	b.ReportMetric(rep.Throughput, "req/s")
	b.ReportMetric(float64(rep.TTLB.P99.Microseconds()), "p99-µs")
}

// TestAcceptEncoding: the header is sent; a coded body is complete when read
// to its end, and with Decode its markers are counted as in a plain one.
func TestAcceptEncoding(t *testing.T) {
	page := "<html><body>" + strings.Repeat(`<b data-fragment="x" data-outcome="hit">1</b>`, 100) + "</body></html>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw, enc := compress.Wrap(w, compress.Negotiated(r))
		io.WriteString(rw, page)
		if enc != nil {
			enc.Close()
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		ae        string
		decode    bool
		fragments int64
	}{{"", false, 100}, {"gzip", false, 0}, {"gzip", true, 100}, {"zstd", true, 100}, {"br", true, 100}} {
		rep, err := Run(context.Background(), Config{URLs: []string{srv.URL}, MaxRequests: 3, AcceptEncoding: tc.ae, Decode: tc.decode})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Errors != 0 || rep.Fragments != 3*tc.fragments {
			t.Errorf("%q decode %v: %d errors, %d fragments, want %d", tc.ae, tc.decode, rep.Errors, rep.Fragments, 3*tc.fragments)
		}
		if tc.ae != "" && !tc.decode && rep.Bytes >= 3*int64(len(page)) {
			t.Errorf("%q: %d bytes counted, not the coded ones", tc.ae, rep.Bytes)
		}
	}
}

// TestConditional: Config.Header is sent with every request, in both
// modes; a 304 to a conditional request is complete, counted under 304,
// and any other 304 is a non-2xx error.
func TestConditional(t *testing.T) {
	const etag = `"v1"`
	page := "<html><body>" + strings.Repeat(`<b data-fragment="x">1</b>`, 3) + "</body></html>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag || r.Header.Get("X-Always-304") != "" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, page)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name                 string
		header               http.Header
		rate                 int
		status, errors, frag int
	}{
		{"unconditional", nil, 0, 200, 0, 3},
		{"matching ETag", http.Header{"if-none-match": {etag}}, 0, 304, 0, 0},
		{"matching ETag, rate", http.Header{"If-None-Match": {etag}}, 200, 304, 0, 0},
		{"other ETag", http.Header{"If-None-Match": {`"v0"`}}, 0, 200, 0, 3},
		{"304 unasked", http.Header{"X-Always-304": {"1"}}, 0, 304, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(context.Background(), Config{URLs: []string{srv.URL}, MaxRequests: 4, Rate: tc.rate,
				Duration: 10 * time.Second, ExpectIncludes: tc.frag, Header: tc.header})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 4 || rep.Status[tc.status] != 4 || rep.Errors != tc.errors || rep.Fragments != int64(4*tc.frag) {
				t.Errorf("%d requests, status %v, %d errors, %d fragments; want 4 × %d, %d errors", rep.Requests, rep.Status, rep.Errors, rep.Fragments, tc.status, tc.errors)
			}
		})
	}
}
