package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a-h/templ"
	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/internal/wait"
)

// gate lets a test hold the "block" fragment of batchSpecs.
type gate struct {
	started chan string   // the id of each block render, as it starts
	release chan struct{} // closed to let them finish
	ended   chan string   // the id of each block render whose context ended
}

func newGate() *gate {
	return &gate{started: make(chan string, 16), release: make(chan struct{}), ended: make(chan string, 16)}
}

// batchSpecs are the fragments of the batch tests: page (rendered HTML,
// spec lifetimes and asset), raw (a Raw with its own lifetimes and
// assets), gone (not found), big (over the size cap) and block (held by
// g).
func batchSpecs(g *gate) []*composer.Spec {
	id := []composer.ParamSpec{{Name: "id", Required: true, Pattern: "[a-z0-9-]+", MaxLen: 32}}
	def := composer.Settings{Timeout: 30 * time.Second, Fresh: 30 * time.Second, Stale: time.Minute}
	html := func(s string) templ.Component {
		return templ.ComponentFunc(func(_ context.Context, w io.Writer) error { _, err := io.WriteString(w, s); return err })
	}
	return []*composer.Spec{
		{Name: "page", Params: id, Defaults: def, Version: "1", Assets: []string{"/static/page.css"},
			Render: func(_ context.Context, p composer.Params) (templ.Component, error) {
				return html("<p>page " + p.Get("id") + " – ünïcode</p>"), nil
			}},
		{Name: "raw", Params: id, Defaults: def, Version: "1",
			Render: func(_ context.Context, p composer.Params) (templ.Component, error) {
				return &composer.Raw{HTML: []byte("<i>" + p.Get("id") + "</i>"), HasFreshness: true, Fresh: 5 * time.Second,
					Stale: 10 * time.Second, Assets: []string{"/static/raw.js", "/static/raw.css"}}, nil
			}},
		{Name: "gone", Params: id, Defaults: def, Version: "1",
			Render: func(context.Context, composer.Params) (templ.Component, error) { return nil, composer.ErrNotFound }},
		{Name: "big", Params: id, Defaults: def, Version: "1",
			Render: func(context.Context, composer.Params) (templ.Component, error) {
				return html(strings.Repeat("x", 2<<10)), nil
			}},
		{Name: "block", Params: id, Defaults: def, Version: "1",
			Render: func(ctx context.Context, p composer.Params) (templ.Component, error) {
				g.started <- p.Get("id")
				select {
				case <-g.release:
					return html("<b>" + p.Get("id") + "</b>"), nil
				case <-ctx.Done():
					g.ended <- p.Get("id")
					return nil, ctx.Err()
				}
			}},
	}
}

// batchServer serves batchSpecs (1 KiB size cap) and counts the batch
// requests it gets.
type batchServer struct {
	*httptest.Server
	mu      sync.Mutex
	batches int
}

func newBatchServer(t *testing.T, g *gate) *batchServer {
	t.Helper()
	h := Handler(batchSpecs(g), ServerOptions{MaxBodyBytes: 1 << 10, Logger: quietLog()})
	bs := &batchServer{}
	bs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			bs.mu.Lock()
			bs.batches++
			bs.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(bs.Close)
	return bs
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// spec builds the remote spec of fragment name at srv, batched or not.
func remoteSpec(t *testing.T, c *Client, srv, name string, batch bool) *composer.Spec {
	t.Helper()
	s, err := c.Spec(Config{Name: name, URL: srv + "/fragments/" + name + "?id={id}",
		Params: []composer.ParamSpec{{Name: "id", MaxLen: 64}}, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func render(ctx context.Context, s *composer.Spec, id string) (*composer.Raw, error) {
	p, err := composer.NewParams(s, map[string]string{"id": id})
	if err != nil {
		return nil, err
	}
	comp, err := s.Render(ctx, p)
	if err != nil {
		return nil, err
	}
	return comp.(*composer.Raw), nil
}

// slowBatches makes batches wait long enough (200ms without a new item)
// that concurrent fetches of a test end up in one batch.
var slowBatches = Options{BatchWindow: 200 * time.Millisecond, BatchMaxWait: 2 * time.Second}

// TestBatchMatchesGET fetches the same items batched and with GETs,
// concurrently, and compares every result: HTML byte for byte, freshness,
// assets, and error kinds and statuses.
func TestBatchMatchesGET(t *testing.T) {
	srv := newBatchServer(t, newGate())
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newClient(t, Options{MaxBodyBytes: 4 << 10})
	defer c.Close()
	type item struct{ name, id string }
	items := []item{{"page", "a1"}, {"page", "b-2"}, {"raw", "r"}, {"gone", "x"}, {"big", "y"},
		{"page", "BAD"}, {"nosuch", "z"}, {"page", ""}}
	type result struct {
		raw *composer.Raw
		err error
	}
	fetchAll := func(batch bool) []result {
		out := make([]result, len(items))
		var wg sync.WaitGroup
		for i, it := range items {
			s := remoteSpec(t, c, srv.URL, it.name, batch)
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				out[i].raw, out[i].err = render(ctx, s, it.id)
			})
		}
		wg.Wait()
		return out
	}
	get, bat := fetchAll(false), fetchAll(true)
	for i, it := range items {
		g, b := get[i], bat[i]
		switch {
		case g.err != nil || b.err != nil:
			var ge, be *Error
			if !errors.As(g.err, &ge) || !errors.As(b.err, &be) || ge.Kind != be.Kind || ge.Status != be.Status ||
				errors.Is(g.err, composer.ErrNotFound) != errors.Is(b.err, composer.ErrNotFound) {
				t.Errorf("%v: GET error %v, batch error %v", it, g.err, b.err)
			}
		case !bytes.Equal(g.raw.HTML, b.raw.HTML) || g.raw.HasFreshness != b.raw.HasFreshness ||
			g.raw.Fresh != b.raw.Fresh || g.raw.Stale != b.raw.Stale || !reflect.DeepEqual(g.raw.Assets, b.raw.Assets):
			t.Errorf("%v: GET %+v (%q), batch %+v (%q)", it, *g.raw, g.raw.HTML, *b.raw, b.raw.HTML)
		}
	}
	// Spot checks that the comparison compared something.
	if bat[0].err != nil || string(bat[0].raw.HTML) != "<p>page a1 – ünïcode</p>" || bat[0].raw.Fresh != 30*time.Second ||
		!reflect.DeepEqual(bat[0].raw.Assets, []string{"/static/page.css"}) {
		t.Errorf("page a1 batched = %+v, %v", bat[0].raw, bat[0].err)
	}
	if bat[2].err != nil || bat[2].raw.Fresh != 5*time.Second || len(bat[2].raw.Assets) != 2 {
		t.Errorf("raw batched = %+v, %v", bat[2].raw, bat[2].err)
	}
	if !errors.Is(bat[3].err, composer.ErrNotFound) {
		t.Errorf("gone batched: %v", bat[3].err)
	}
	var e *Error
	if !errors.As(bat[4].err, &e) || e.Kind != KindStatus || e.Status != 500 {
		t.Errorf("big batched: %v (want the server's 500: over its cap)", bat[4].err)
	}
	if !errors.As(bat[5].err, &e) || e.Kind != KindStatus || e.Status != 400 {
		t.Errorf("bad param batched: %v", bat[5].err)
	}
	st := c.Stats()
	if len(st) != 1 || st[0].Requests != int64(2*len(items)) || st[0].Batches < 1 || st[0].InFlight != 0 {
		t.Errorf("stats %+v", st)
	}
	if st[0].OK+st[0].Errors["status"] != st[0].Requests {
		t.Errorf("stats do not add up: %+v", st)
	}
}

// TestBatchClientSizeCap checks the client's own cap per item.
func TestBatchClientSizeCap(t *testing.T) {
	srv := newBatchServer(t, newGate())
	c := newClient(t, Options{MaxBodyBytes: 16})
	_, err := render(context.Background(), remoteSpec(t, c, srv.URL, "page", true), "a-long-enough-id")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindOversized {
		t.Fatalf("err = %v, want oversized", err)
	}
}

// TestBatchStreams checks that a fast item comes back while a slow one of
// the same batch is still running, and the slow one after.
func TestBatchStreams(t *testing.T) {
	g := newGate()
	srv := newBatchServer(t, g)
	o := slowBatches
	o.MaxBatchItems = 2 // the second item sends the batch
	c := newClient(t, o)
	slow, fast := remoteSpec(t, c, srv.URL, "block", true), remoteSpec(t, c, srv.URL, "page", true)
	slowDone := make(chan error, 1)
	go func() {
		raw, err := render(context.Background(), slow, "s")
		if err == nil && string(raw.HTML) != "<b>s</b>" {
			err = fmt.Errorf("HTML %q", raw.HTML)
		}
		slowDone <- err
	}()
	raw, err := render(context.Background(), fast, "f")
	if err != nil || !strings.Contains(string(raw.HTML), "page f") {
		t.Fatalf("fast item: %v, %v", raw, err)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("the slow item finished before its release: %v", err)
	default:
	}
	<-g.started
	close(g.release)
	if err := <-slowDone; err != nil {
		t.Fatalf("slow item: %v", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.batches != 1 {
		t.Logf("%d batches (the items were not sent together on this run)", srv.batches)
	}
}

// TestBatchItemDeadline checks that an item whose context ends gets a
// timeout at once while its batch goes on for the others.
func TestBatchItemDeadline(t *testing.T) {
	g := newGate()
	srv := newBatchServer(t, g)
	o := slowBatches
	o.MaxBatchItems = 2
	c := newClient(t, o)
	s := remoteSpec(t, c, srv.URL, "block", true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := render(ctx, s, "leaves"); errc <- err }()
	other := make(chan error, 1)
	go func() {
		raw, err := render(context.Background(), s, "stays")
		if err == nil && string(raw.HTML) != "<b>stays</b>" {
			err = fmt.Errorf("HTML %q", raw.HTML)
		}
		other <- err
	}()
	<-g.started
	<-g.started // both are running at the server
	cancel()
	var e *Error
	if err := <-errc; !errors.As(err, &e) || e.Kind != KindTimeout {
		t.Fatalf("the leaving item: %v, want a timeout", err)
	}
	close(g.release)
	if err := <-other; err != nil {
		t.Fatalf("the other item: %v", err)
	}
	st := c.Stats()[0]
	if st.Errors["timeout"] != 1 || st.OK != 1 || st.InFlight != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestBatchCancelledWhenAllLeave checks that the batch request is
// cancelled, and the server's renders with it, once every waiter left.
func TestBatchCancelledWhenAllLeave(t *testing.T) {
	g := newGate()
	srv := newBatchServer(t, g)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	o := slowBatches
	o.MaxBatchItems = 2
	c := newClient(t, o)
	defer c.Close()
	s := remoteSpec(t, c, srv.URL, "block", true)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b"} {
		wg.Go(func() {
			if _, err := render(ctx, s, id); err == nil {
				t.Errorf("%s: no error", id)
			}
		})
	}
	<-g.started
	<-g.started
	cancel()
	wg.Wait()
	// The server sees its request go: both renders end, long before
	// their 30s timeout.
	for range 2 {
		select {
		case <-g.ended:
		case <-time.After(20 * time.Second):
			t.Fatal("the server's renders were not cancelled")
		}
	}
	srv.Close()
}

// TestBatchEmptiedQueue checks that an item whose waiter left before its
// batch was sent is not sent: an item queued after it is sent, in the same
// batch or a later one, and the server renders that one alone.
func TestBatchEmptiedQueue(t *testing.T) {
	g := newGate()
	close(g.release)
	srv := newBatchServer(t, g)
	c := newClient(t, Options{BatchWindow: 50 * time.Millisecond})
	s := remoteSpec(t, c, srv.URL, "block", true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := render(ctx, s, "a"); err == nil {
		t.Fatal("no error with an ended context")
	}
	if _, err := render(context.Background(), s, "b"); err != nil {
		t.Fatal(err)
	}
	srv.Close() // waits for the batch requests to end
	close(g.started)
	var rendered []string
	for id := range g.started {
		rendered = append(rendered, id)
	}
	if !slices.Equal(rendered, []string{"b"}) {
		t.Errorf("the server rendered %q, want b alone", rendered)
	}
}

// TestBatchServerValidation checks the batch endpoint's refusals.
func TestBatchServerValidation(t *testing.T) {
	h := Handler(batchSpecs(newGate()), ServerOptions{MaxBatchItems: 4, MaxBatchBytes: 256, Logger: quietLog()})
	post := func(body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/fragments/_batch", strings.NewReader(body)))
		return w
	}
	for _, tt := range []struct {
		name, body string
		status     int
	}{
		{"empty", "", 400},
		{"empty line", "page?id=a\n\npage?id=b\n", 400},
		{"space", "page?id=a b\n", 400},
		{"cr", "page?id=a\r\n", 400},
		{"hash", "page?id=a#x\n", 400},
		{"slash name", "x%2Fy?id=a\n", 400},
		{"path", "../page?id=a\n", 400},
		{"absolute", "http://evil/page?id=a\n", 400},
		{"no name", "?id=a\n", 400},
		{"too many", strings.Repeat("page?id=a\n", 5), 413},
		{"too large", "page?id=" + strings.Repeat("a", 300) + "\n", 413},
	} {
		if w := post(tt.body); w.Code != tt.status || strings.Contains(w.Body.String(), "F ") {
			t.Errorf("%s: %d %q, want %d", tt.name, w.Code, w.Body, tt.status)
		}
	}
	// A GET of the endpoint is an unknown fragment.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/fragments/_batch", nil))
	if w.Code != 404 {
		t.Errorf("GET _batch = %d", w.Code)
	}
	// Per item: unknown fragment, bad params, success; the last line
	// without its newline.
	w = post("nosuch?id=a\npage?id=UPPER\npage?id=ok")
	if w.Code != 200 || w.Header().Get("Content-Type") != batchType {
		t.Fatalf("batch = %d %v", w.Code, w.Header())
	}
	got := map[int]frame{}
	br := bufio.NewReader(w.Body)
	for {
		f, err := readFrame(br, 3, 1<<20)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[f.index] = f
	}
	if len(got) != 3 || got[0].status != 404 || got[1].status != 400 || got[2].status != 200 ||
		got[2].contentType != "text/html; charset=utf-8" || !strings.HasPrefix(got[2].cache.CacheControl[0], "max-age=30") ||
		!reflect.DeepEqual(got[2].link, []string{"</static/page.css>; rel=stylesheet"}) ||
		string(got[2].body) != "<p>page ok – ünïcode</p>" || got[0].cache.CacheControl[0] != "no-store" {
		t.Errorf("frames %+v", got)
	}
	// The GET of the same item answers the same.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/fragments/page?id=ok", nil))
	if w.Body.String() != string(got[2].body) || w.Header().Get("Cache-Control") != got[2].cache.CacheControl[0] ||
		w.Header().Get("Link") != got[2].link[0] {
		t.Errorf("GET %d %v %q differs from its frame", w.Code, w.Header(), w.Body)
	}
}

// TestBatchServerOnly checks that a batch cannot reach a fragment the
// server was not given (fragmentd's -only).
func TestBatchServerOnly(t *testing.T) {
	specs := batchSpecs(newGate())
	h := Handler(specs[:1], ServerOptions{Logger: quietLog()}) // page only
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/fragments/_batch", strings.NewReader("raw?id=a\n")))
	f, err := readFrame(bufio.NewReader(w.Body), 1, 1<<20)
	if err != nil || f.status != 404 {
		t.Fatalf("frame %+v, %v", f, err)
	}
}

// hostileBatch answers a batch item by item, by what each line asks for;
// "trunc" items cut the response short.
func hostileBatch(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if strings.Contains(string(body), "notbatch") {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<p>I am a plain page</p>")
		return
	}
	if strings.Contains(string(body), "switch") {
		// A 101 with Upgrade hands the connection to the client, whose
		// context no longer closes it: the client must close it itself.
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: secret\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(wait.Patience)) // a guard against a client that never closes it
		_, _ = io.Copy(io.Discard, c)
		return
	}
	if strings.Contains(string(body), "old") {
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", batchType)
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	var cut []int
	for i, l := range lines {
		id := l[strings.Index(l, "id=")+3:]
		frame := func(status int, hdr, body string) {
			fmt.Fprintf(bw, "F %d %d %d %d\n%s%s", i, status, strings.Count(hdr, "\n"), len(body), hdr, body)
		}
		switch {
		case strings.HasPrefix(id, "ok"):
			frame(200, "Cache-Control: max-age=7\nLink: <x.css>; rel=stylesheet\n", "<p>"+id+"</p>")
		case strings.HasPrefix(id, "err"):
			frame(502, "", "secret upstream error")
		case strings.HasPrefix(id, "redirect"):
			frame(302, "Location: http://evil/\n", "")
		case strings.HasPrefix(id, "utf8"):
			frame(200, "", "\xff\xfe")
		case strings.HasPrefix(id, "huge"):
			frame(200, "", strings.Repeat("y", 5000))
		case strings.HasPrefix(id, "nul"):
			frame(200, "", "<p>secret\x00</p>")
		case strings.HasPrefix(id, "png"):
			frame(200, "Content-Type: image/png\n", "<p>secret</p>")
		case strings.HasPrefix(id, "partial"):
			frame(206, "", "<p>secret</p>")
		default:
			cut = append(cut, i)
		}
	}
	if len(cut) > 0 { // the response ends with the first cut
		i := cut[0]
		switch {
		case strings.Contains(lines[i], "dup") && i > 0:
			fmt.Fprintf(bw, "F 0 200 0 2\nhi")
		case strings.Contains(lines[i], "range"):
			fmt.Fprintf(bw, "F %d 200 0 2\nhi", len(lines))
		case strings.Contains(lines[i], "garbage"):
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\n\r\n")
		default:
			fmt.Fprintf(bw, "F %d 200 0 100\n<p>cut", i)
		}
	}
}

// TestBatchHostileResponse checks each item of a hostile or broken batch
// response: good frames are delivered, bad ones fail their item with the
// right kind (bodies never reach the page), and a malformed or truncated
// response fails only the items not yet delivered.
func TestBatchHostileResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hostileBatch))
	defer srv.Close()
	for _, tt := range []struct {
		name string
		ids  []string
		want []string // "ok" or the Kind, per id
	}{
		{"per item", []string{"ok1", "err", "redirect", "utf8", "huge", "nul", "png", "partial", "ok2"},
			[]string{"ok", "status", "redirect", "invalid_utf8", "oversized", "not_html", "not_html", "status", "ok"}},
		{"truncated", []string{"ok1", "trunc", "ok2"}, []string{"ok", "network", "ok"}},
		{"duplicate", []string{"ok1", "dup", "ok2"}, []string{"ok", "network", "ok"}},
		{"out of range", []string{"ok1", "range"}, []string{"ok", "network"}},
		{"garbage", []string{"ok1", "garbage", "ok2"}, []string{"ok", "network", "ok"}},
		{"not a batch", []string{"notbatch", "notbatch2"}, []string{"status", "status"}},
		{"old server", []string{"old", "old2"}, []string{"status", "status"}},
		{"switching protocols", []string{"switch", "switch2"}, []string{"status", "status"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := slowBatches
			o.MaxBatchItems = len(tt.ids)
			o.MaxBodyBytes = 4 << 10
			c := newClient(t, o)
			s := remoteSpec(t, c, srv.URL, "frag", true)
			got := make([]string, len(tt.ids))
			var wg sync.WaitGroup
			for i, id := range tt.ids {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					raw, err := render(ctx, s, id)
					var e *Error
					switch {
					case err == nil && string(raw.HTML) == "<p>"+id+"</p>" && raw.Fresh == 7*time.Second &&
						reflect.DeepEqual(raw.Assets, []string{srv.URL + "/fragments/x.css"}):
						got[i] = "ok"
					case err == nil:
						got[i] = fmt.Sprintf("wrong result %+v %q", raw, raw.HTML)
					case errors.As(err, &e):
						got[i] = e.Kind.String()
						if strings.Contains(err.Error(), "secret") {
							t.Errorf("the error says the body: %v", err)
						}
					default:
						got[i] = err.Error()
					}
				})
			}
			wg.Wait()
			// Items of a cut response that were not sent in its batch (a
			// noisy machine may split the batch) are answered in theirs.
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBatchBase checks which templates can be batched and where their
// batches go.
func TestBatchBase(t *testing.T) {
	p := []composer.ParamSpec{{Name: "id"}}
	for _, tt := range []struct{ url, base, err string }{
		{"http://h:1/fragments/score?id={id}", "http://h:1/fragments/", ""},
		{"http://h/svc/fragments/score?a=1&id={id}", "http://h/svc/fragments/", ""},
		{"http://h/x?id={id}", "http://h/", ""},
		{"http://h/fragments/{id}", "", "cannot hold a placeholder"},
		{"http://h/f-{id}/x?a={id}", "", "cannot hold a placeholder"},
		{"http://h/fragments/?id={id}", "", "ending in the fragment's name"},
		{"http://h?id={id}", "", "ending in the fragment's name"},
	} {
		tp, err := ParseTemplate(tt.url, p)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		base, endpoint, err := batchBase(tp)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.url, err, tt.err)
			}
			continue
		}
		if err != nil || base != tt.base || endpoint != tt.base+"_batch" {
			t.Errorf("%s: %q %q %v", tt.url, base, endpoint, err)
		}
	}
}

// TestParseBatchRequest checks the request parser's items.
func TestParseBatchRequest(t *testing.T) {
	items, err := parseBatchRequest([]byte("score?match=m1\nscore%2Dx?a=%20b&c\nplain\n"), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"score|match=m1", "score-x|a=%20b&c", "plain|"}
	for i, it := range items {
		if got := it.name + "|" + it.u.RawQuery; i >= len(want) || got != want[i] {
			t.Errorf("item %d = %q", i, got)
		}
	}
	if len(items) != 3 {
		t.Errorf("%d items", len(items))
	}
}

// TestFrameRoundTrip writes frames and reads them back.
func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	outs := []outcome{
		{status: 200, html: []byte("<p>x</p>"), cacheControl: []string{"max-age=1"}, links: []string{"<a.css>; rel=stylesheet", "<b.js>; rel=\"fragment-script\""}},
		{status: 400, msg: "param id bad"},
		{status: 200, cacheControl: []string{"no-store", "bad\nvalue"}},
	}
	for i := range outs {
		if err := writeFrame(bw, i, &outs[i]); err != nil {
			t.Fatal(err)
		}
	}
	_ = bw.Flush()
	br := bufio.NewReader(&b)
	for i, o := range outs {
		f, err := readFrame(br, len(outs), 1<<10)
		if err != nil || f.index != i || f.status != o.status {
			t.Fatalf("frame %d: %+v %v", i, f, err)
		}
		if o.status == 200 && (!bytes.Equal(f.body, o.html) || !reflect.DeepEqual(f.link, o.links) && len(o.links) > 0) {
			t.Errorf("frame %d: %+v", i, f)
		}
	}
	if f, err := readFrame(br, 3, 1<<10); err != io.EOF {
		t.Errorf("after the last frame: %+v, %v", f, err)
	}
	// The header value with a newline was dropped, not written.
	if outs := fmt.Sprint(b.String()); strings.Contains(outs, "bad") {
		t.Errorf("a value with a newline was written: %q", outs)
	}
}

// TestReadFrameRefuses checks the frame reader's refusals.
func TestReadFrameRefuses(t *testing.T) {
	for _, in := range []string{
		"G 0 200 0 0\n", "F 0 200 0\n", "F -1 200 0 0\n", "F 0 200 0 0 0\n", "F 5 200 0 0\n",
		"F 0 99 0 0\n", "F 0 1000 0 0\n", "F 0 200 33 0\n", "F 0 200 1 0\nNoColon\n", "F 0 200 0 10\nabc",
		"F 0 200 0 5", "F 0 200 1 0\n", "F 0 200 0 +1\n1", "F 00000000000000 200 0 0\n",
		"F 0 200 1 0\nLink: " + strings.Repeat("x", 20<<10) + "\n",
	} {
		if f, err := readFrame(bufio.NewReaderSize(strings.NewReader(in), 16<<10), 5, 1<<10); err == nil {
			t.Errorf("readFrame(%q) = %+v, want an error", in, f)
		}
	}
	f, err := readFrame(bufio.NewReader(strings.NewReader("F 0 200 0 2000\n"+strings.Repeat("x", 2000))), 1, 1000)
	if err != nil || !f.oversized || f.body != nil {
		t.Errorf("oversized: %+v %v", f, err)
	}
}

// TestBatchMany fetches more items at once than one batch holds: each
// gets its own result, and the batches respect the cap.
func TestBatchMany(t *testing.T) {
	srv := newBatchServer(t, newGate())
	c := newClient(t, Options{})
	s := remoteSpec(t, c, srv.URL, "page", true)
	const n = 600
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := "p" + fmt.Sprint(i)
			raw, err := render(context.Background(), s, id)
			if err != nil || string(raw.HTML) != "<p>page "+id+" – ünïcode</p>" {
				t.Errorf("%s: %v %v", id, raw, err)
			}
		})
	}
	wg.Wait()
	st := c.Stats()[0]
	if st.Requests != n || st.OK != n || st.InFlight != 0 || st.Batches < (n+DefaultMaxBatchItems-1)/DefaultMaxBatchItems {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d items in %d batches", n, st.Batches)
}

// TestBatchInFlightPerItem checks that MaxInFlightPerHost counts batched
// items: a third item waits for a slot, and gives up waiting, while two
// are held at the server.
func TestBatchInFlightPerItem(t *testing.T) {
	g := newGate()
	srv := newBatchServer(t, g)
	c := newClient(t, Options{MaxInFlightPerHost: 2})
	s := remoteSpec(t, c, srv.URL, "block", true)
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b"} {
		wg.Go(func() {
			if _, err := render(context.Background(), s, id); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		})
	}
	<-g.started
	<-g.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := render(ctx, s, "c")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindQueued || !strings.Contains(err.Error(), "in-flight slot") {
		t.Errorf("third item: %v, want queued: waiting for a slot", err)
	}
	close(g.release)
	wg.Wait()
	select {
	case id := <-g.started:
		t.Errorf("item %s reached the server", id)
	default:
	}
}

// TestBatchRequestHeaders checks what a batch request carries: the fixed
// headers, the lines, and nothing of the reader's.
func TestBatchRequestHeaders(t *testing.T) {
	var got http.Header
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Content-Type", batchType)
		_, _ = io.WriteString(w, "F 0 200 0 3\n<a>")
	}))
	defer srv.Close()
	c := newClient(t, Options{})
	s, err := c.Spec(Config{Name: "frag", URL: srv.URL + "/fragments/frag?id={id}&fixed=1", Params: []composer.ParamSpec{{Name: "id"}}, Batch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := render(context.Background(), s, "x y&z=1#"); err != nil {
		t.Fatal(err)
	}
	if body != "frag?id=x+y%26z%3D1%23&fixed=1\n" {
		t.Errorf("body %q", body)
	}
	if got.Get("Accept") != batchType || got.Get("User-Agent") != "broadsheet-composer" || got.Get("Cookie") != "" ||
		got.Get("Authorization") != "" || got.Get("X-Idempotency-Key") != "" {
		t.Errorf("headers %v", got)
	}
}
