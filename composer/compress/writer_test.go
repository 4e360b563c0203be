package compress

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// op is one step of a page written through a Writer: text compressed as
// it comes, a piece, or a flush.
type op struct {
	text  string
	piece *Piece
	flush bool
}

// html returns n bytes of page-like HTML, different for each seed.
func html(seed, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `<li class="bs-score" data-match="%d-%d"><span>Team %d</span> %d–%d</li>`, seed, i, (seed*31+i)%97, i%5, (i+seed)%4)
	}
	return b.String()[:n]
}

type budget struct{ n, max int64 }

func (b *budget) Reserve(n int64) bool {
	if b.n+n > b.max {
		return false
	}
	b.n += n
	return true
}

func decode(t *testing.T, c Coding, body []byte) []byte {
	t.Helper()
	r, err := NewReader(c, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%v: decoding: %v", c, err)
	}
	return got
}

// TestWriterDecodes writes pages of dynamic text, pieces and flushes in
// every coding and decodes them with a real decoder: each must give the
// page's bytes exactly, and at each flush the bytes so far must decode to
// everything written before it.
func TestWriterDecodes(t *testing.T) {
	big := NewPiece([]byte(html(1, 200_000)), &budget{max: 1 << 30})
	small := NewPiece([]byte(html(2, 300)), &budget{max: 1 << 30})
	refused := NewPiece([]byte(html(3, 5000)), nil) // keeps no form
	pages := map[string][]op{
		"text":              {{text: html(4, 100_000)}},
		"empty":             {},
		"piece only":        {{piece: big}},
		"pieces":            {{piece: big}, {piece: small}, {piece: big}},
		"text around":       {{text: "<!doctype html><head>"}, {piece: big}, {text: html(5, 7000)}, {piece: small}, {text: "</html>"}},
		"flushes":           {{text: html(6, 9000)}, {flush: true}, {piece: big}, {flush: true}, {flush: true}, {text: "<p>late</p>"}, {flush: true}, {text: "</html>"}},
		"flush first":       {{flush: true}, {text: "<p>a</p>"}},
		"refused piece":     {{text: "<p>"}, {piece: refused}, {text: "</p>"}, {piece: refused}},
		"repeats in pieces": {{text: html(1, 30_000)}, {piece: big}, {text: html(1, 30_000)}},
	}
	for _, c := range Preferred {
		for name, ops := range pages {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				rec := httptest.NewRecorder()
				rw, w := Wrap(rec, c)
				var want []byte
				for _, o := range ops {
					switch {
					case o.flush:
						rw.(http.Flusher).Flush()
						if !rec.Flushed {
							t.Fatal("Flush did not flush the ResponseWriter")
						}
						prefix := make([]byte, len(want))
						r, err := NewReader(c, bytes.NewReader(rec.Body.Bytes()))
						if err != nil {
							t.Fatal(err)
						}
						if _, err := io.ReadFull(r, prefix); err != nil || !bytes.Equal(prefix, want) {
							t.Fatalf("at a flush, the body so far does not decode to the %d bytes written (%v)", len(want), err)
						}
					case o.piece != nil:
						if err := w.WritePiece(o.piece); err != nil {
							t.Fatal(err)
						}
						want = append(want, o.piece.Raw()...)
					default:
						io.WriteString(rw, o.text)
						want = append(want, o.text...)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				h := rec.Result().Header
				if got := h.Get("Content-Encoding"); got != c.String() {
					t.Errorf("Content-Encoding %q, want %q", got, c)
				}
				if got := h.Get("Vary"); got != "Accept-Encoding" {
					t.Errorf("Vary %q", got)
				}
				if got := decode(t, c, rec.Body.Bytes()); !bytes.Equal(got, want) {
					t.Fatalf("decoded %d bytes, want the %d written", len(got), len(want))
				}
			})
		}
	}
}

// TestWriteWhole sends a piece as the whole body in every coding: its kept
// form, with its length, made once.
func TestWriteWhole(t *testing.T) {
	raw := []byte(html(7, 150_000))
	for _, c := range Preferred {
		t.Run(c.String(), func(t *testing.T) {
			p := NewPiece(raw, &budget{max: 1 << 30})
			for range 3 {
				rec := httptest.NewRecorder()
				_, w := Wrap(rec, c)
				if err := w.WriteWhole(p); err != nil {
					t.Fatal(err)
				}
				w.Close()
				body := rec.Body.Bytes()
				if got := rec.Result().Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
					t.Errorf("Content-Length %q, body %d bytes", got, len(body))
				}
				if got := decode(t, c, body); !bytes.Equal(got, raw) {
					t.Fatalf("decoded %d bytes, want %d", len(got), len(raw))
				}
			}
			if n := p.Made(c); n != 1 {
				t.Errorf("form made %d times for 3 pages, want once", n)
			}
		})
	}
}

// TestPieceBudget checks that a piece keeps a form only within its budget
// and hands back what it held on Release.
func TestPieceBudget(t *testing.T) {
	raw := []byte(html(8, 50_000))
	b := &budget{max: 1 << 30}
	p := NewPiece(raw, b)
	p.form(Gzip)
	p.form(Zstd)
	p.form(Gzip)
	if p.Made(Gzip) != 1 || p.Made(Zstd) != 1 {
		t.Fatalf("made gzip %d, zstd %d times, want once each", p.Made(Gzip), p.Made(Zstd))
	}
	if got := p.Release(); got != b.n || got == 0 {
		t.Fatalf("Release = %d, reserved %d", got, b.n)
	}
	p.form(Gzip)
	if p.Made(Gzip) != 2 || p.Release() != 0 {
		t.Fatal("a released piece kept a form")
	}
	tight := NewPiece(raw, &budget{max: 10})
	tight.form(Gzip)
	tight.form(Gzip)
	if tight.Made(Gzip) != 2 || tight.Release() != 0 {
		t.Fatal("a piece kept a form its budget refused")
	}
}

// TestWriterStatusWithoutBody checks that a 304 is sent without a coding.
func TestWriterStatusWithoutBody(t *testing.T) {
	rec := httptest.NewRecorder()
	rw, w := Wrap(rec, Gzip)
	rw.Header().Set("ETag", `"v1"`)
	rw.WriteHeader(http.StatusNotModified)
	w.Close()
	h := rec.Result().Header
	if rec.Code != http.StatusNotModified || h.Get("Content-Encoding") != "" || rec.Body.Len() != 0 {
		t.Fatalf("304: status %d, Content-Encoding %q, %d bytes", rec.Code, h.Get("Content-Encoding"), rec.Body.Len())
	}
	rec = httptest.NewRecorder()
	rw, w = Wrap(rec, Zstd)
	rw.Header().Set("ETag", `"v1"`)
	io.WriteString(rw, "x")
	w.Close()
	if got := rec.Result().Header.Get("ETag"); got != `"v1-zstd"` {
		t.Errorf("ETag %q, want the coding's own", got)
	}
}
