package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/andybalholm/brotli"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	http.StripPrefix("/static/", Handler()).ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", coding, err)
	}
	return out
}

func TestFingerprintedNames(t *testing.T) {
	css, err := FS.ReadFile("site.css")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(css)
	want := "/static/site." + hex.EncodeToString(sum[:])[:8] + ".css"
	if got := Path("site.css"); got != want {
		t.Fatalf("Path(site.css) = %q, want %q", got, want)
	}
	if got := Path("nothing.css"); got != "/static/nothing.css" {
		t.Errorf("Path(nothing.css) = %q", got)
	}
	stale := "/static/site.0123abcd.css"
	if want == stale {
		stale = "/static/site.0123abce.css"
	}
	for _, tc := range []struct {
		name, path, accept, coding, cache string
	}{
		{"fingerprinted", want, "", "", "public, max-age=31536000, immutable"},
		{"fingerprinted br", want, "gzip, deflate, br, zstd", "br", "public, max-age=31536000, immutable"},
		{"fingerprinted gzip", want, "gzip", "gzip", "public, max-age=31536000, immutable"},
		{"fingerprinted gzip over br", want, "br;q=0.5, gzip", "gzip", "public, max-age=31536000, immutable"},
		{"fingerprinted x-gzip", want, "x-gzip", "gzip", "public, max-age=31536000, immutable"},
		{"identity preferred", want, "identity, br;q=0.5", "", "public, max-age=31536000, immutable"},
		{"malformed", want, "br;q=2", "", "public, max-age=31536000, immutable"},
		{"plain name", "/static/site.css", "br", "br", "no-cache"},
		{"another version's hash", stale, "", "", "no-cache"},
		{"the icon", Path("favicon.svg"), "gzip", "gzip", "public, max-age=31536000, immutable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, tc.path, "Accept-Encoding", tc.accept)
			h := rec.Header()
			if rec.Code != 200 || h.Get("Cache-Control") != tc.cache || h.Get("Content-Encoding") != tc.coding ||
				h.Get("Vary") != "Accept-Encoding" || h.Get("ETag") == "" {
				t.Fatalf("%d %v", rec.Code, h)
			}
			if tc.path != Path("favicon.svg") && (h.Get("Content-Type") != "text/css; charset=utf-8" || !bytes.Equal(decode(t, tc.coding, rec.Body.Bytes()), css)) {
				t.Errorf("Content-Type %q, or the body is not site.css", h.Get("Content-Type"))
			}
			if tc.coding != "" && rec.Body.Len() >= len(css) {
				t.Errorf("%s body of %d bytes, not smaller than %d", tc.coding, rec.Body.Len(), len(css))
			}
			// A revalidation with the ETag is a 304 without a body.
			again := get(t, tc.path, "Accept-Encoding", tc.accept, "If-None-Match", h.Get("ETag"))
			if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
				t.Errorf("If-None-Match: %d, %d bytes", again.Code, again.Body.Len())
			}
		})
	}
	for _, p := range []string{"/static/", "/static/site.zzzzzzzz.css", "/static/site.0123abcd.js", "/static/embed.go", "/static/../embed.go", "/static/site.CSS"} {
		if rec := get(t, p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
}
