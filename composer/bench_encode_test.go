package composer

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkCompose2000Encoded serves the warm 2,000-include page in every
// coding (identity, gzip, zstd, br) three ways: kept whole (its kept form
// in one write), composed around its stitched scoreboard (the layout
// compressed per request, the scoreboard spliced precompressed), and
// unstitched (every include looked up and compressed per request). It
// reports the bytes sent per page.
//
//	go test -run '^$' -bench Compose2000Encoded -benchmem ./composer/
func BenchmarkCompose2000Encoded(b *testing.B) {
	for _, mode := range []string{"whole", "composed", "unstitched"} {
		for _, ae := range []string{"identity", "gzip", "zstd", "br"} {
			b.Run(mode+"/"+ae, func(b *testing.B) {
				site := scoresSite(2000, 0)
				site.Pages[0].Layout = "head" // a page is kept whole only with a head
				opts := Options{Layouts: testLayouts}
				if mode == "unstitched" {
					opts.StitchBytes = -1
				}
				c := New(site, opts)
				defer c.Close()
				if mode == "composed" {
					composedOnly(c)
				}
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Accept-Encoding", ae)
				w := &discard{h: http.Header{}}
				page := site.Pages[0]
				serveOnce := func() {
					w.n = 0
					clear(w.h)
					c.Serve(w, req, Request{Page: page, Start: time.Now()})
				}
				for range 3 { // warm, stitched, forms made
					serveOnce()
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					serveOnce()
				}
				b.StopTimer()
				b.ReportMetric(float64(w.n), "bytes/page")
			})
		}
	}
}
