package composer

import (
	"context"
	"testing"
	"time"

	"github.com/a-h/templ"
)

// TestRefreshRendersAfterItsEvent: an event's refresh renders data read
// after it was asked for. It joins no call that started before then — not
// an earlier event's call still running, nor one completed and on its way
// into L1 — and an earlier call finishing later does not replace its entry
// in L1.
func TestRefreshRendersAfterItsEvent(t *testing.T) {
	lg := newLeague()
	gate := map[string]chan struct{}{"1–0": make(chan struct{}), "2–0": make(chan struct{})}
	started := make(chan string, 2)
	site := lg.site(1, time.Hour)
	score := site.Fragments["score"].Spec
	score.Render = func(_ context.Context, p Params) (templ.Component, error) {
		s := lg.score(p.Get("match"))
		started <- s
		<-gate[s]
		return text("<li>" + s + "</li>"), nil
	}
	c := newTestComposer(t, site, Options{})
	prm, err := NewParams(score, map[string]string{"match": "m100"})
	if err != nil {
		t.Fatal(err)
	}
	tg := Target{Fragment: "score", Params: prm, Key: Key("score", prm)}
	refresh := func() chan *Entry {
		ch := make(chan *Entry, 1)
		go func() {
			e, err := c.Refresh(context.Background(), tg)
			if err != nil {
				t.Error(err)
			}
			ch <- e
		}()
		return ch
	}

	lg.set("m100", "1–0")
	first := refresh()
	if s := <-started; s != "1–0" {
		t.Fatalf("first call read %s", s)
	}
	lg.set("m100", "2–0") // a second goal while the first refresh runs
	second := refresh()
	select {
	case s := <-started:
		if s != "2–0" {
			t.Fatalf("second refresh: its call read %s, want 2–0", s)
		}
	case <-time.After(5 * time.Second):
		close(gate["1–0"])
		t.Fatalf("second refresh: no call of its own (it took the first refresh's result: %s)", (<-second).HTML)
	}
	close(gate["2–0"])
	if e := <-second; string(e.HTML) != "<li>2–0</li>" {
		t.Fatalf("second refresh got %s", e.HTML)
	}
	close(gate["1–0"]) // the first call ends last
	if e := <-first; string(e.HTML) != "<li>1–0</li>" {
		t.Fatalf("first refresh got %s", e.HTML)
	}
	waitInL1(t, c)
	e, _ := c.inL1(tg.Key, c.version(c.Site().Fragments["score"]))
	if e == nil || string(e.HTML) != "<li>2–0</li>" {
		var held []byte
		if e != nil {
			held = e.HTML
		}
		t.Fatalf("L1 holds %q, want the second refresh's <li>2–0</li>", held)
	}
}
