package composer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
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

// TestDebugKeepsListsValid: on a debug page an include that is one list
// item has its bs-frag inside the item, since a list holds only items; an
// include that is anything else (several items, a paragraph) is wrapped
// where it stands. Every include is still wrapped once, and the page
// shows what it shows without debug.
func TestDebugKeepsListsValid(t *testing.T) {
	num := []ParamSpec{{Name: "n", Required: true, Pattern: `[0-9]+`, MaxLen: 3}}
	item := static("item", "")
	item.Params = num
	item.Render = func(_ context.Context, p Params) (templ.Component, error) {
		if p.Get("n") == "0" {
			return nil, errors.New("no item 0")
		}
		return text(` <li class="i" title="a>b">` + p.Get("n") + "</li>\n"), nil
	}
	item.Defaults.Fallback = `<li class="fb">–</li>`
	nested := static("nested", `<li><ul><bs-include fragment="item" n="9"></bs-include></ul></li>`)
	nested.Includes = []string{"item"}
	pair := static("pair", `<li>x</li><li>y</li>`)
	para := static("para", `<p>p</p>`)
	list := static("list", `<ol><bs-include fragment="item" n="1"></bs-include><bs-include fragment="item" n="0"></bs-include>`+
		`<bs-include fragment="nested"></bs-include></ol><ul><bs-include fragment="pair"></bs-include></ul><bs-include fragment="para"></bs-include>`)
	list.Includes = []string{"item", "nested", "pair", "para"}
	c := newTestComposer(t, testSite([]*Spec{list, item, nested, pair, para}, time.Second, "list"), Options{})
	plain := body(serve(c, ""))
	page := body(serve(c, "debug=1"))
	d, err := goquery.NewDocumentFromReader(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Find("ol > bs-frag, ul > bs-frag").Length(); n != 1 {
		t.Errorf("%d bs-frag directly in a list, want 1 (the pair of items)", n)
	}
	if n := d.Find("li > bs-frag:only-child").Length(); n != 4 {
		t.Errorf("%d bs-frag alone inside an item, want 4 (items 1, 9, the fallback, nested)", n)
	}
	if n := d.Find("bs-frag").Length(); n != 7 {
		t.Errorf("%d bs-frag, want one per include (7)", n)
	}
	if got := d.Find(`li.fb > bs-frag[data-outcome="error"]`).Length(); got != 1 {
		t.Errorf("the failed item's fallback: %d wrapped inside, want 1", got)
	}
	if got, want := stripFrags(page), plain; !strings.Contains(got, want[strings.Index(want, "<ol>"):strings.Index(want, "</main>")]) {
		t.Errorf("without its wrappers the debug page differs:\n got %s\nwant %s", got, want)
	}
}

// stripFrags removes the debug page's bs-frag tags.
func stripFrags(s string) string {
	for {
		i := strings.Index(s, "<bs-frag ")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '>')
		s = s[:i] + s[i+j+1:]
	}
	return strings.ReplaceAll(s, "</bs-frag>", "")
}

func TestItemBounds(t *testing.T) {
	for _, tc := range []struct {
		html        string
		open, close int
		ok          bool
	}{
		{`<li>a</li>`, 4, 5, true},
		{"\n <li class=\"x\" title='>'>a</li>\n", 26, 27, true},
		{`<LI>a</LI>`, 4, 5, true},
		{`<dd>a</dd>`, 4, 5, true},
		{`<li><ol><li>a</li></ol></li>`, 4, 23, true},
		{`<li>a</li><li>b</li>`, 0, 0, false},
		{`<link rel="x"><li>a</li>`, 0, 0, false},
		{`<p>a</p>`, 0, 0, false},
		{`<li>a`, 0, 0, false},
		{`<li`, 0, 0, false},
		{``, 0, 0, false},
	} {
		open, close, ok := itemBounds([]byte(tc.html))
		if open != tc.open || close != tc.close || ok != tc.ok {
			t.Errorf("itemBounds(%q) = %d, %d, %v; want %d, %d, %v", tc.html, open, close, ok, tc.open, tc.close, tc.ok)
		}
	}
}

// FuzzItemBounds: itemBounds never panics, and what it accepts is a start
// tag of an item, its content and its end tag.
func FuzzItemBounds(f *testing.F) {
	for _, s := range []string{`<li>a</li>`, "\n<li title='>'>a</li>\n", `<li>a</li><li>b</li>`, `<dd><li></li></dd>`, `<li/></li>`, `</li><li>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		open, close, ok := itemBounds(b)
		if !ok {
			return
		}
		if open <= 0 || open > close || close > len(b) {
			t.Fatalf("itemBounds(%q) = %d, %d", b, open, close)
		}
		start := strings.ToLower(strings.TrimSpace(string(b[:open])))
		end := strings.ToLower(strings.TrimSpace(string(b[close:])))
		if len(start) < 4 || start[0] != '<' || end != "</"+start[1:3]+">" || !strings.HasSuffix(start, ">") {
			t.Fatalf("itemBounds(%q): start %q, end %q", b, start, end)
		}
	})
}

// TestOverlayIsHandedIn: a debug page's overlay is rendered with
// Options.Overlay, given the page's figures; without one there is none.
func TestOverlayIsHandedIn(t *testing.T) {
	site := testSite([]*Spec{static("a", "<p>a</p>"), static("b", "<p>b</p>")}, time.Second, "a", "b")
	var got Overlay
	c := newTestComposer(t, site, Options{Overlay: func(o Overlay) templ.Component {
		got = o
		return text(`<aside id="overlay"></aside>`)
	}})
	if page := body(serve(c, "debug=1")); !strings.Contains(page, `<aside id="overlay"></aside>`) {
		t.Fatalf("no overlay on the debug page: %s", page)
	}
	if got.Includes != 2 || len(got.Phases) != 5 || len(got.Slowest) != 2 || len(got.Outcomes) == 0 {
		t.Fatalf("overlay figures %+v: want 2 includes, 5 phases, 2 slowest", got)
	}
	if page := body(serve(c, "")); strings.Contains(page, "overlay") {
		t.Fatalf("overlay on a page without debug: %s", page)
	}
}
