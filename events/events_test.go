package events_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/events"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// league is a test source: the score of each match, and the calls made
// to render them.
type league struct {
	mu     sync.Mutex
	goals  map[string]int
	calls  atomic.Int64
	byKey  map[string]int
	render time.Duration
}

func newLeague() *league { return &league{goals: map[string]int{}, byKey: map[string]int{}} }

func (l *league) goal(match string) {
	l.mu.Lock()
	l.goals[match]++
	l.mu.Unlock()
}

func (l *league) site(matches int) *composer.Site {
	score := &composer.Spec{Name: "score", Version: "1",
		Params: []composer.ParamSpec{{Name: "match", Required: true, Pattern: `m[0-9]+`}},
		// Long TTLs: only events make a goal show.
		Defaults: composer.Settings{Timeout: time.Second, Fresh: time.Hour, Stale: time.Hour},
		Events:   []composer.EventDep{{Topic: "match.updated"}},
		Render: func(ctx context.Context, p composer.Params) (templ.Component, error) {
			l.calls.Add(1)
			time.Sleep(l.render)
			l.mu.Lock()
			l.byKey[p.Get("match")]++
			g := l.goals[p.Get("match")]
			l.mu.Unlock()
			return html(fmt.Sprintf("<li>%s:%d</li>", p.Get("match"), g)), nil
		}}
	s := &composer.Site{Limits: composer.DefaultLimits, Fragments: map[string]*composer.Fragment{
		"score": {Spec: score, Settings: score.Defaults},
	}}
	s.Limits.Budget = 10 * time.Second
	p := &composer.Page{Name: "p", Path: "/", Layout: "l"}
	for i := range matches {
		p.Includes = append(p.Includes, &composer.PageInclude{Fragment: "score", Slot: "main",
			Params: []composer.Binding{{Name: "match", Value: fmt.Sprintf("m%d", i)}}})
	}
	s.Pages = []*composer.Page{p}
	return s
}

func html(s string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

var layouts = map[string]composer.Layout{"l": func(v *composer.View) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "<html><body>")
		v.Slot("main").Render(ctx, w)
		_, err := io.WriteString(w, "</body></html>")
		return err
	})
}}

func page(c *composer.Composer) string {
	rec := httptest.NewRecorder()
	c.Serve(rec, httptest.NewRequest("GET", "/", nil), composer.Request{Page: c.Site().Pages[0], Start: time.Now()})
	return rec.Body.String()
}

func TestLocalEventRefreshesOnlyItsInclude(t *testing.T) {
	l := newLeague()
	c := composer.New(l.site(3), composer.Options{Layouts: layouts})
	defer c.Close()
	h := events.NewHandler(c, nil, nil)
	defer h.Close()
	bus := events.LocalBus{H: h}
	if b := page(c); b != "<html><body><li>m0:0</li><li>m1:0</li><li>m2:0</li></body></html>" {
		t.Fatal(b)
	}
	l.goal("m1")
	if _, err := bus.Publish(context.Background(), events.Event{Topic: "match.updated", Params: map[string]string{"match": "m1"}}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the goal on the page", func() bool { return strings.Contains(page(c), "<li>m1:1</li>") })
	if n := l.calls.Load(); n != 4 {
		t.Fatalf("%d fragment calls, want 4 (3 cold + 1 refresh)", n)
	}
	// The entry is in L1 (so on the page) a moment before the handler
	// records the event as the fragment's last.
	wait.For(t, "the event recorded as the fragment's last", func() bool {
		last, ok := h.Last("score")
		return ok && last.Key == "score?match=m1"
	})
	// Unknown topics and invalid params touch nothing.
	bus.Publish(context.Background(), events.Event{Topic: "weather.changed"})
	bus.Publish(context.Background(), events.Event{Topic: "match.updated", Params: map[string]string{"match": "<x>"}})
	if h.Stats().NoTarget.Load() != 2 {
		t.Fatalf("no-target events: %d", h.Stats().NoTarget.Load())
	}
	if _, err := bus.Publish(context.Background(), events.Event{Topic: "Bad Topic"}); err == nil {
		t.Fatal("an invalid topic was published")
	}
}

func TestBurstsCoalesce(t *testing.T) {
	l := newLeague()
	l.render = 20 * time.Millisecond
	c := composer.New(l.site(0), composer.Options{Layouts: layouts})
	defer c.Close()
	h := events.NewHandler(c, nil, nil)
	defer h.Close()
	// Handle calls done once every render an event causes has ended: after
	// applied.Wait, a duplicate render would have been counted.
	var applied sync.WaitGroup
	publish := func(match string) {
		applied.Add(1)
		h.Handle(events.Event{Topic: "match.updated", Params: map[string]string{"match": match}, At: time.Now()}, applied.Done)
	}
	// 1,000 events for distinct matches: each re-rendered once.
	for i := range 1000 {
		publish(fmt.Sprintf("m%d", i))
	}
	// 200 events for one match: they coalesce.
	for range 200 {
		publish("m5000")
	}
	applied.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byKey) != 1001 {
		t.Fatalf("%d matches rendered, want 1001", len(l.byKey))
	}
	for i := range 1000 {
		if n := l.byKey[fmt.Sprintf("m%d", i)]; n != 1 {
			t.Fatalf("m%d rendered %d times", i, n)
		}
	}
	if n := l.byKey["m5000"]; n < 1 || n > 3 {
		t.Fatalf("200 events for one match rendered it %d times, want them coalesced", n)
	}
}

// instance is one composer with its own Redis client, event handler and
// bus consumer.
type instance struct {
	c     *composer.Composer
	store *redisstore.Store
	h     *events.Handler
	bus   *events.RedisBus
	stop  func()
}

func start(t *testing.T, srv *redistest.Server, site *composer.Site) *instance {
	return startTB(t, srv, site)
}

func startTB(t testing.TB, srv *redistest.Server, site *composer.Site) *instance {
	t.Helper()
	client, err := redisstore.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	store := redisstore.New(client, redisstore.Options{Timeout: time.Second})
	c := composer.New(site, composer.Options{Store: store, Layouts: layouts})
	bus := events.NewRedisBus(client, "test", nil)
	h := events.NewHandler(c, bus, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { bus.Run(ctx, h); close(done) }()
	in := &instance{c: c, store: store, h: h, bus: bus}
	var once sync.Once
	in.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			h.Close()
			c.Close()
			client.Close()
		})
	}
	t.Cleanup(in.stop)
	return in
}

func TestGoalReachesEveryInstanceOnce(t *testing.T) {
	srv := redistest.Start(t)
	l := newLeague()
	site := l.site(3)
	a, b := start(t, srv, site), start(t, srv, site)
	page(a.c)
	wait.For(t, "write-back", func() bool { return a.store.Stats().Sets == 3 })
	page(b.c) // B warms from Redis
	before := l.calls.Load()
	l.goal("m2")
	if _, err := a.bus.Publish(context.Background(), events.Event{Topic: "match.updated", Params: map[string]string{"match": "m2"}}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []*instance{a, b} {
		wait.For(t, "the goal on both instances", func() bool { return strings.Contains(page(in.c), "<li>m2:1</li>") })
	}
	if n := l.calls.Load() - before; n != 1 {
		t.Fatalf("%d fragment calls for one goal on two instances, want 1", n)
	}
}

func TestRestartedInstanceCatchesUp(t *testing.T) {
	srv := redistest.Start(t)
	l := newLeague()
	site := l.site(2)
	a := start(t, srv, site)
	page(a.c)
	a.stop() // the only instance is down…
	client := srv.Client(t)
	pub := events.NewRedisBus(client, "test", nil)
	for range 3 { // …while goals are published
		l.goal("m1")
		if _, err := pub.Publish(context.Background(), events.Event{Topic: "match.updated", Params: map[string]string{"match": "m1"}}); err != nil {
			t.Fatal(err)
		}
	}
	b := start(t, srv, site) // a new instance of the same deployment
	wait.For(t, "the events published while down applied", func() bool { return b.h.Stats().Events.Load() == 3 })
	wait.For(t, "the goals on the page", func() bool { return strings.Contains(page(b.c), "<li>m1:3</li>") })
	// Every event acknowledged: nothing pending for the group.
	wait.For(t, "acks", func() bool {
		p, err := client.XPending(context.Background(), events.Stream, "test").Result()
		return err == nil && p.Count == 0
	})
}

func TestMalformedStreamEntriesAreDropped(t *testing.T) {
	srv := redistest.Start(t)
	l := newLeague()
	a := start(t, srv, l.site(1))
	client := srv.Client(t)
	for _, vals := range [][]any{
		{"topic", "match.updated", "params", "{not json", "at", "1"},
		{"topic", "NOT A TOPIC", "at", "1"},
		{"topic", "match.updated", "at", "yesterday"},
		{"junk", "x"},
	} {
		client.XAdd(context.Background(), &redis.XAddArgs{Stream: events.Stream, Values: vals})
	}
	wait.For(t, "the malformed entries acknowledged", func() bool {
		p, err := client.XPending(context.Background(), events.Stream, "test").Result()
		n, _ := client.XLen(context.Background(), events.Stream).Result()
		return err == nil && p.Count == 0 && n == 4
	})
	if a.h.Stats().Events.Load() != 0 {
		t.Fatal("a malformed event was applied")
	}
}

func TestHTTPEndpoint(t *testing.T) {
	l := newLeague()
	c := composer.New(l.site(1), composer.Options{Layouts: layouts})
	defer c.Close()
	h := events.NewHandler(c, nil, nil)
	defer h.Close()
	srv := httptest.NewServer(events.HTTPHandler(events.LocalBus{H: h}, func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer s3cret"
	}))
	defer srv.Close()
	post := func(auth, body string) int {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, tc := range []struct {
		auth, body string
		status     int
	}{
		{"", `{"topic":"match.updated","params":{"match":"m0"}}`, 401},
		{"Bearer nope", `{"topic":"match.updated","params":{"match":"m0"}}`, 401},
		{"Bearer s3cret", `{"topic":"match.updated","params":{"match":"m0"}}`, 202},
		{"Bearer s3cret", `{"topic":"match.updated","extra":1}`, 400},
		{"Bearer s3cret", `{"topic":""}`, 400},
		{"Bearer s3cret", `not json`, 400},
	} {
		if got := post(tc.auth, tc.body); got != tc.status {
			t.Errorf("POST %s with %q: %d, want %d", tc.body, tc.auth, got, tc.status)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}
