package composer

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStreamsInDocumentOrder checks over real HTTP that the head and the
// includes before a slow one reach the client while the slow one is still
// running, and that everything after it follows in order.
func TestStreamsInDocumentOrder(t *testing.T) {
	release := make(chan struct{})
	slow := static("slow", "")
	slow.Defaults.Timeout = 10 * time.Second
	slow.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return text("<p>slow</p>"), nil
	}
	site := testSite([]*Spec{static("a", "<p>a</p>"), slow, static("b", "<p>b</p>")}, 20*time.Second, "a", "slow", "b")
	c := newTestComposer(t, site, Options{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Serve(w, r, Request{Page: c.Site().Pages[0], Start: time.Now()})
	}))
	defer ts.Close()

	res, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	br := bufio.NewReader(res.Body)
	var got strings.Builder
	for !strings.Contains(got.String(), "<p>a</p>") {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("stream ended before the first include: %q (%v)", got.String(), err)
		}
		got.WriteByte(b)
	}
	if strings.Contains(got.String(), "slow") {
		t.Fatal("slow include arrived before it was released")
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	want := "<html><body><main><p>a</p><p>slow</p><p>b</p></main></body></html>"
	if got.String()+string(rest) != want {
		t.Fatalf("page = %q, want %q", got.String()+string(rest), want)
	}
}
