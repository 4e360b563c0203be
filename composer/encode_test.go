package composer

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer/compress"
)

// serveWith composes the site's first page for a request with the given
// header fields.
func serveWith(c *Composer, query string, header ...string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/?"+query, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	c.Serve(rec, req, Request{Page: c.Site().Pages[0], Query: req.URL.Query(), Start: time.Now()})
	return rec
}

// decoded returns rec's body decoded from its Content-Encoding by a real
// decoder (compress/gzip for gzip).
func decoded(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	c, ok := compress.Parse(rec.Header().Get("Content-Encoding"))
	if !ok {
		t.Fatalf("Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
	r, err := compress.NewReader(c, bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	return string(b)
}

// linksApart moves page's stylesheet links, sorted, to its end.
func linksApart(page string) string {
	re := regexp.MustCompile(`<link rel="stylesheet" href="[^"]*">`)
	links := re.FindAllString(page, -1)
	slices.Sort(links)
	return re.ReplaceAllString(page, "") + strings.Join(links, "")
}

// TestEncodedPagesDecode serves a page of nested includes cold, warm with
// stitched subtrees, and kept whole (or composed around its subtrees), in
// every coding: each decodes to the page sent uncompressed by a composer
// in the same state, byte for byte, with Content-Encoding and Vary.
func TestEncodedPagesDecode(t *testing.T) {
	lg := newLeague()
	for _, ae := range []struct{ header, coding string }{
		{"gzip", "gzip"}, {"gzip, deflate, br, zstd", "gzip"}, {"zstd, gzip;q=0.9", "zstd"}, {"br", "br"}, {"x-gzip;q=0.5, identity;q=0.1", "gzip"},
	} {
		for _, whole := range []bool{true, false} {
			plain := newTestComposer(t, patient(lg.site(200, time.Hour)), Options{})
			coded := newTestComposer(t, patient(lg.site(200, time.Hour)), Options{})
			if !whole {
				composedOnly(plain)
				composedOnly(coded)
			}
			for state := range 4 { // cold, warm, stitched, served stitched
				waitInL1(t, plain)
				waitInL1(t, coded)
				want := body(serveWith(plain, ""))
				rec := serveWith(coded, "", "Accept-Encoding", ae.header)
				if got := rec.Header().Get("Content-Encoding"); got != ae.coding {
					t.Fatalf("state %d, Accept-Encoding %q: Content-Encoding %q, want %q", state, ae.header, got, ae.coding)
				}
				if got := rec.Header().Values("Vary"); len(got) != 1 || got[0] != "Accept-Encoding" {
					t.Errorf("Vary %q", got)
				}
				got := decoded(t, rec)
				if state == 0 {
					// Cold, a stylesheet goes in the head or beside its
					// include, as it settles before the head or after:
					// the same links, where they land is a race.
					got, want = linksApart(got), linksApart(want)
				}
				if got != want {
					t.Fatalf("state %d, %s: decoded page differs from the uncompressed one\n%s\nwant\n%s", state, ae.coding, got, want)
				}
			}
			if servedWhole(coded) == 0 {
				t.Fatal("nothing was served stitched")
			}
		}
	}
}

// TestWarmPageIsNotRecompressed: once a page's stitched subtrees and the
// page kept whole have their compressed forms, warm pages in that coding
// compress none of their bytes again — a page kept whole is its form, a
// composed page compresses only its layout's text and includes that are
// not stitched.
func TestWarmPageIsNotRecompressed(t *testing.T) {
	lg := newLeague()
	for _, whole := range []bool{true, false} {
		c := newTestComposer(t, lg.site(300, time.Hour), Options{})
		if !whole {
			composedOnly(c)
		}
		for range 3 { // cold, then stitched, then served stitched
			serveWith(c, "", "Accept-Encoding", "gzip")
			waitInL1(t, c)
		}
		for _, coding := range []string{"gzip", "zstd"} {
			serveWith(c, "", "Accept-Encoding", coding) // makes the forms
			before := c.Stats().Compressed.Load()
			const pages = 5
			var size int
			for range pages {
				rec := serveWith(c, "", "Accept-Encoding", coding)
				size = len(decoded(t, rec))
			}
			per := (c.Stats().Compressed.Load() - before) / pages
			switch {
			case whole && per != 0:
				t.Errorf("%s, kept whole: %d bytes compressed per page, want 0", coding, per)
			case !whole && per*4 > int64(size):
				t.Errorf("%s, composed: %d of the page's %d bytes compressed per page", coding, per, size)
			}
			pieces := 0
			c.l1.Cache().All()(func(_ string, e *Entry) bool {
				if st := e.mark.Kept(); st != nil {
					pieces++
					if n := st.Piece.Made(codingOf(coding)); n > 1 {
						t.Errorf("%s: a subtree compressed %d times", coding, n)
					}
				}
				return true
			})
			if pieces == 0 && !whole {
				t.Fatal("no stitched subtree")
			}
			if whole {
				c.pages.Cache().All()(func(_ string, sp *keptPage) bool {
					if n := sp.Subtree.Piece.Made(codingOf(coding)); n != 1 {
						t.Errorf("%s: the page kept whole compressed %d times, want once", coding, n)
					}
					return true
				})
			}
		}
	}
}

// composedOnly makes c keep no page whole: subtrees are stitched, the
// page is composed around them every time.
func composedOnly(c *Composer) {
	c.pages.Close()
	c.pages = nil
}

// patient gives s's page and fragments a minute: a cold page compared with
// another must not meet a timeout on a busy machine.
func patient(s *Site) *Site {
	s.Limits.Budget = time.Minute
	for _, f := range s.Fragments {
		f.Settings.Timeout = time.Minute
	}
	return s
}

func codingOf(name string) compress.Coding {
	c, _ := compress.Parse(name)
	return c
}

// TestEncodingBadInput: a malformed or unknown Accept-Encoding gives the
// page as it is; a Range gives the whole page with 200; error pages carry
// Vary and, when coded, Content-Encoding.
func TestEncodingBadInput(t *testing.T) {
	lg := newLeague()
	c := newTestComposer(t, lg.site(20, time.Hour), Options{})
	for range 3 {
		serveWith(c, "")
		waitInL1(t, c)
	}
	want := body(serveWith(c, "")) // served whole from now on
	for _, ae := range []string{"gzip;q=2", "gzip;level=1", "compress", "identity;q=0", "\x01", "gzip;q=0"} {
		rec := serveWith(c, "", "Accept-Encoding", ae)
		if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "" || body(rec) != want {
			t.Errorf("Accept-Encoding %q: status %d, Content-Encoding %q", ae, rec.Code, rec.Header().Get("Content-Encoding"))
		}
	}
	for _, ae := range []string{"", "gzip"} {
		rec := serveWith(c, "", "Range", "bytes=0-10", "Accept-Encoding", ae)
		if rec.Code != 200 || rec.Header().Get("Content-Range") != "" || decoded(t, rec) != want {
			t.Errorf("Range, Accept-Encoding %q: status %d, Content-Range %q", ae, rec.Code, rec.Header().Get("Content-Range"))
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	c.Serve(rec, req, Request{Page: &Page{Name: "bad", Layout: "missing"}, Start: time.Now()})
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Vary") != "Accept-Encoding" || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("error page: status %d, header %v", rec.Code, rec.Header())
	}
	if got := decoded(t, rec); !bytes.Contains([]byte(got), []byte("could not be laid out")) {
		t.Fatalf("error page decoded to %q", got)
	}
}

// TestCompressedFormsAreCounted: the forms a stitched subtree and a page
// kept whole make count in the stitched bytes, are not kept past them, and
// are counted out when their holders go.
func TestCompressedFormsAreCounted(t *testing.T) {
	lg := newLeague()
	c := newTestComposer(t, lg.site(300, time.Hour), Options{})
	for range 3 {
		serveWith(c, "")
		waitInL1(t, c)
	}
	plain := c.StitchedBytes()
	if plain <= 0 {
		t.Fatal("nothing stitched")
	}
	serveWith(c, "", "Accept-Encoding", "gzip")
	serveWith(c, "", "Accept-Encoding", "zstd")
	coded := c.StitchedBytes()
	if coded <= plain {
		t.Fatalf("stitched bytes %d with compressed forms, %d without: the forms are not counted", coded, plain)
	}
	c.l1.Cache().InvalidateAll()
	c.pages.Cache().InvalidateAll()
	if n := c.StitchedBytes(); n != 0 {
		t.Fatalf("%d stitched bytes left once nothing is kept", n)
	}

	// A budget with room for the subtrees but not their forms: pages are
	// compressed per request, and nothing more is counted.
	tight := newTestComposer(t, lg.site(300, time.Hour), Options{})
	for range 3 {
		serveWith(tight, "")
		waitInL1(t, tight)
	}
	for n := int64(1) << 40; n > 0; n >>= 1 { // the stitched bytes filled to their bound
		for tight.l1.Reserve(n) {
		}
	}
	before := tight.StitchedBytes()
	want := body(serveWith(tight, ""))
	if got := decoded(t, serveWith(tight, "", "Accept-Encoding", "gzip")); got != want {
		t.Fatal("a page whose forms are not kept does not decode to the page")
	}
	if after := tight.StitchedBytes(); after != before {
		t.Fatalf("stitched bytes %d → %d past their bound", before, after)
	}
}
