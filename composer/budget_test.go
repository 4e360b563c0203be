package composer

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/internal/wait"
)

// TestComposeBytesBoundCallsInFlight: calls making large results at once
// hold no more than ComposeBytes beyond their allowances; a call that
// finds no room is refused at once (its include falls back), the others
// complete, and every byte is given back.
func TestComposeBytesBoundCallsInFlight(t *testing.T) {
	const limit = 1 << 20
	release := make(chan struct{})
	big := &Spec{Name: "big", Params: []ParamSpec{{Name: "n", Required: true, Pattern: `[0-9]`}},
		Defaults: Settings{Timeout: time.Minute, Fresh: time.Minute, Stale: time.Minute, Fallback: "<p>fallback</p>"},
		Render: func(context.Context, Params) (templ.Component, error) {
			return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
				chunk := strings.Repeat("x", 4<<10)
				for range 150 { // 600 KiB
					if _, err := io.WriteString(w, chunk); err != nil {
						return err
					}
				}
				<-release
				return nil
			}), nil
		}}
	site := testSite([]*Spec{big}, time.Minute, "big?n=1", "big?n=2", "big?n=3")
	c := newTestComposer(t, site, Options{ComposeBytes: limit})
	done := make(chan string)
	go func() { done <- body(serve(c, "")) }()
	wait.For(t, "a call refused", func() bool {
		if used := c.ComposingBytes(); used > limit {
			t.Fatalf("%d bytes held, limit %d", used, limit)
		}
		return c.Stats().Busy.Load() != 0 && c.Stats().InFlight.Load()+c.Stats().Busy.Load() >= 3
	})
	if used := c.ComposingBytes(); used > limit || used == 0 {
		t.Fatalf("%d bytes held by the calls in flight, want some, at most %d", used, limit)
	}
	close(release)
	page := <-done
	if served, fellBack := strings.Count(page, strings.Repeat("x", 100)), strings.Count(page, "fallback"); served < 1 || fellBack != int(c.Stats().Busy.Load()) {
		t.Errorf("%d served, %d fallbacks, %d refused", served, fellBack, c.Stats().Busy.Load())
	}
	waitInL1(t, c)
	if used := c.ComposingBytes(); used != 0 {
		t.Errorf("%d bytes still held once every call ended", used)
	}
}
