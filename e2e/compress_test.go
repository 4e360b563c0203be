package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCompressedPage loads the scores page cold and then warm (kept whole,
// sent as its kept compressed form): Chromium asks for compression, gets
// the page in a coding it accepts, and renders every score.
func TestCompressedPage(t *testing.T) {
	tb := newTab(t, desktop)
	const path = "/sport/football/scores?size=1500"
	for _, state := range []string{"cold", "warm", "kept whole"} {
		tb.rec.reset(baseURL+path, 200)
		ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
		res, err := chromedp.RunResponse(ctx, chromedp.Navigate(baseURL+path))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", state, err)
		}
		var coding, vary any
		for k, v := range res.Headers {
			switch strings.ToLower(k) {
			case "content-encoding":
				coding = v
			case "vary":
				vary = v
			}
		}
		if c, _ := coding.(string); res.Status != 200 || (c != "gzip" && c != "zstd" && c != "br") {
			t.Fatalf("%s: status %d, Content-Encoding %v", state, res.Status, coding)
		}
		if v, _ := vary.(string); !strings.Contains(v, "Accept-Encoding") {
			t.Errorf("%s: Vary %v", state, vary)
		}
		tb.clean(path)
		if n := tb.count(".bs-score"); n != 1500 {
			t.Fatalf("%s: %d scores rendered, want 1500", state, n)
		}
	}
}
