package composer

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
)

// TestReaderReachesOnlyItsFragment: under concurrent load, a reader's
// page never shows another reader's content, and fragments that do not
// declare NeedsReader never learn who reads.
func TestReaderReachesOnlyItsFragment(t *testing.T) {
	mine := static("mine", "")
	mine.NeedsReader = true
	mine.Defaults.Timeout = 5 * time.Second // -race and 200 requests at once
	mine.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
		time.Sleep(2 * time.Millisecond) // overlap the readers' calls
		return text("<p>teams of " + ReaderFrom(ctx) + "</p>"), nil
	}
	var leaked atomic.Int32
	shared := static("shared", "")
	shared.Render = func(ctx context.Context, _ Params) (templ.Component, error) {
		if ReaderFrom(ctx) != "" {
			leaked.Add(1)
		}
		return text("<p>headline</p>"), nil
	}
	c := newTestComposer(t, testSite([]*Spec{mine, shared}, 5*time.Second, "mine", "shared"), Options{})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			reader := fmt.Sprintf("reader%d", i%7)
			rec := httptest.NewRecorder()
			c.Serve(rec, httptest.NewRequest("GET", "/", nil), Request{Page: c.Site().Pages[0], Start: time.Now(), Reader: reader})
			b := rec.Body.String()
			if !strings.Contains(b, "<p>teams of "+reader+"</p>") || strings.Count(b, "teams of") != 1 {
				t.Errorf("%s got %s", reader, b)
			}
		})
	}
	wg.Wait()
	if leaked.Load() != 0 {
		t.Fatalf("a fragment without NeedsReader saw the reader %d times", leaked.Load())
	}
	if c.l1.Cache().EstimatedSize() != 1 { // only the shared fragment is cached
		t.Fatalf("%d entries cached, want 1: per-reader output must never be cached", c.l1.Cache().EstimatedSize())
	}
}
