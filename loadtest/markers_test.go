package loadtest

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

func TestCheckMarker(t *testing.T) {
	for m, ok := range map[string]bool{
		`data-fragsim="`:                    true,
		`<!-- bs: `:                         true,
		"ab":                                true,
		"a":                                 true,
		"":                                  false,
		"aa":                                false,
		"abab":                              false,
		"abcab":                             false,
		`"x"`:                               false,
		strings.Repeat("x", maxMarkerLen+1): false,
		"y" + strings.Repeat("x", maxMarkerLen-1): true,
	} {
		if err := checkMarker(m); (err == nil) != ok {
			t.Errorf("checkMarker(%.20q) = %v, want ok %v", m, err, ok)
		}
	}
	if _, err := Run(t.Context(), Config{URLs: []string{"http://127.0.0.1:1/"}, MaxRequests: 1, Markers: []string{"aa"}}); err == nil {
		t.Error("Run with a marker that overlaps itself: no error")
	}
}

// wholeScan is the reference scanBody is checked against: the same counts
// taken over the whole body at once.
func wholeScan(body []byte, markers [][]byte) pageScan {
	res := pageScan{Bytes: int64(len(body)), Fragments: int64(bytes.Count(body, []byte(fragmentMarker)))}
	for _, m := range markers {
		res.Markers = append(res.Markers, int64(bytes.Count(body, m)))
	}
	for pos := 0; ; {
		i := bytes.Index(body[pos:], []byte(outcomeMarker))
		if i < 0 {
			break
		}
		v := pos + i + len(outcomeMarker)
		q := bytes.IndexByte(body[v:min(len(body), v+maxOutcomeLen+1)], '"')
		if q < 0 {
			pos = v
			continue
		}
		res.Outcomes[outcomeIndex(body[v:v+q])]++
		pos = v + q + 1
	}
	res.EndsHTML = bytes.HasSuffix(bytes.ToLower(bytes.TrimRight(body, " \t\r\n\f\v")), []byte(htmlEnd))
	return res
}

// chunkedReader returns reads whose sizes cycle through sizes.
type chunkedReader struct {
	r     io.Reader
	sizes []byte
	i     int
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	n := 1
	if len(c.sizes) > 0 {
		n = 1 + int(c.sizes[c.i%len(c.sizes)])
		c.i++
	}
	return c.r.Read(p[:min(len(p), n)])
}

func equalScans(a, b pageScan) bool {
	return a.Bytes == b.Bytes && a.Fragments == b.Fragments && a.Outcomes == b.Outcomes &&
		a.EndsHTML == b.EndsHTML && fmt.Sprint(a.Markers) == fmt.Sprint(b.Markers)
}

// presentPage is a page as the remote benchmarks see it: n fragments of a
// service, missing of them replaced by the composer's placeholder.
func presentPage(n, missing int) []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html><html><body><main>")
	for i := range n {
		if i < missing {
			b.WriteString("<!-- bs: frag unavailable -->")
			continue
		}
		fmt.Fprintf(&b, `<div class="fragsim" data-fragsim="%d" data-gen="2">%s</div>`, i, strings.Repeat("x", i%50))
	}
	b.WriteString("</main></body></html>\n")
	return b.Bytes()
}

// TestScanBodyMarkers counts given markers, whatever the read sizes and
// however short the buffer.
func TestScanBodyMarkers(t *testing.T) {
	body := presentPage(1000, 10)
	markers := [][]byte{[]byte(`data-fragsim="`), []byte("<!-- bs: "), []byte(`data-gen="2"`), []byte("absent")}
	want := []int64{990, 10, 990, 0}
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(body) },
		"one-byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(body)) },
		"random":   func() io.Reader { return &randomReader{r: bytes.NewReader(body), rng: rand.New(rand.NewPCG(5, 6))} },
	}
	for name, mk := range readers {
		for _, size := range []int{64, 256, scanBufferSize} {
			var res pageScan
			if err := scanBody(mk(), make([]byte, size), markers, &res); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(res.Markers) != fmt.Sprint(want) || !res.EndsHTML {
				t.Errorf("%s, buffer %d: markers %v, want %v; endsHTML %v", name, size, res.Markers, want, res.EndsHTML)
			}
		}
	}
}

// TestScanBodyPendingOutcomeAndLongMarker: an outcome value split across
// reads while a marker longer than the outcome marker is carried too.
func TestScanBodyPendingOutcomeAndLongMarker(t *testing.T) {
	long := []byte("<" + strings.Repeat("m", 60) + ">")
	body := []byte(`<html>` + string(long) + `<i data-outcome="timeout">` + string(long) + `</html>`)
	for split := 1; split < len(body); split++ {
		r := io.MultiReader(bytes.NewReader(body[:split]), bytes.NewReader(body[split:]))
		var res pageScan
		if err := scanBody(iotest.HalfReader(r), make([]byte, 128), [][]byte{long}, &res); err != nil {
			t.Fatal(err)
		}
		if want := wholeScan(body, [][]byte{long}); !equalScans(res, want) {
			t.Fatalf("split at %d: %+v, want %+v", split, res, want)
		}
	}
}

// TestKeepPages records each page with its markers, status and times, in
// the order sent.
func TestKeepPages(t *testing.T) {
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch i := n.Add(1); {
		case i%4 == 0:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			w.Write(presentPage(100, int(i%4)))
		}
	})
	rep, err := Run(t.Context(), Config{
		URLs: []string{srv.URL}, Concurrency: 1, MaxRequests: 8, KeepPages: true,
		Markers: []string{`data-fragsim="`, "<!-- bs: "},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Pages) != 8 {
		t.Fatalf("%d pages kept, want 8", len(rep.Pages))
	}
	var present, missing int64
	for i, p := range rep.Pages {
		if i > 0 && p.Start.Before(rep.Pages[i-1].End()) {
			t.Errorf("page %d started before page %d ended (concurrency 1)", i, i-1)
		}
		k := int64(i+1) % 4
		if k == 0 {
			if p.Status != 503 || p.Complete || p.Markers[0] != 0 {
				t.Errorf("page %d: %+v, want a 503", i, p)
			}
			continue
		}
		if p.Status != 200 || !p.Complete || p.Markers[0] != 100-k || p.Markers[1] != k || p.TTLB < p.TTFB || p.TTFB <= 0 {
			t.Errorf("page %d: %+v, want 200 with %d present and %d missing", i, p, 100-k, k)
		}
		present += p.Markers[0]
		missing += p.Markers[1]
	}
	if rep.Markers[`data-fragsim="`] != present || rep.Markers["<!-- bs: "] != missing {
		t.Errorf("totals %v, want %d and %d", rep.Markers, present, missing)
	}
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), `"<!-- bs: "`) {
		t.Errorf("text report without the markers:\n%s", text.String())
	}

	// Without KeepPages, nothing is kept; a failed request is kept with
	// its error.
	rep, err = Run(t.Context(), Config{URLs: []string{srv.URL}, MaxRequests: 2})
	if err != nil || rep.Pages != nil {
		t.Fatalf("pages %v, err %v without KeepPages", rep.Pages, err)
	}
	rep, err = Run(t.Context(), Config{URLs: []string{"http://127.0.0.1:1/"}, MaxRequests: 1, KeepPages: true,
		Markers: []string{"x"}, Timeout: time.Second})
	if err != nil || len(rep.Pages) != 1 || rep.Pages[0].Err == nil || rep.Pages[0].Complete || len(rep.Pages[0].Markers) != 1 {
		t.Fatalf("pages %+v, err %v for a refused connection", rep.Pages, err)
	}
}

// FuzzScanBody: counting while streaming, in reads of any sizes, agrees
// with counting over the whole body.
func FuzzScanBody(f *testing.F) {
	f.Add([]byte(presentPage(30, 3)), []byte{0, 7, 200}, `data-fragsim="`, uint8(0))
	f.Add([]byte(`<html><b data-fragment="x" data-outcome="hit">a</b><!-- bs: f unavailable --></html>`), []byte{3}, "<!-- bs: ", uint8(10))
	f.Add([]byte(`<i data-outcome="`+strings.Repeat("q", 40)+`">`), []byte{1, 2}, "q", uint8(1))
	f.Add([]byte(`data-outcome="timeout" data-outcome="x`), []byte{13, 14}, `"`, uint8(100))
	f.Add([]byte("</html>  \n</HTML>"), []byte{}, "</", uint8(255))
	f.Fuzz(func(t *testing.T, body, sizes []byte, marker string, extra uint8) {
		markers := [][]byte{[]byte(`data-fragsim="`)}
		if checkMarker(marker) == nil {
			markers = append(markers, []byte(marker))
		}
		// The smallest buffer scanBody accepts, and some.
		buf := make([]byte, max(maxMarkerLen, len(outcomeMarker)+maxOutcomeLen)+1+int(extra))
		var got pageScan
		if err := scanBody(&chunkedReader{r: bytes.NewReader(body), sizes: sizes}, buf, markers, &got); err != nil {
			t.Fatal(err)
		}
		if want := wholeScan(body, markers); !equalScans(got, want) {
			t.Fatalf("streamed %+v, whole %+v", got, want)
		}
	})
}
