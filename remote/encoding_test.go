package remote_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/broadsheet/broadsheet/remote"
)

// TestParamsEncodedExactlyOnce: a value taken from a page's route or query
// reaches a remote fragment service as the client meant it, escaped once
// for where it stands in the service's URL: decoding the path segment or
// the query value once gives the value back. One case per character
// class; the page request goes through web's full handler, whose router
// sees the escaped path whenever the client escaped something.
func TestParamsEncodedExactlyOnce(t *testing.T) {
	type got struct{ path, query, rawPath, rawQuery string }
	var (
		mu   sync.Mutex
		seen = map[string]got{} // by the marker param
	)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seg := strings.TrimPrefix(r.URL.Path, "/f/")
		mu.Lock()
		seen[r.URL.Query().Get("id")] = got{path: seg, query: r.URL.Query().Get("q"), rawPath: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery}
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<p class="echo">ok</p>`)
	}))
	defer svc.Close()
	c := remote.New(remote.Options{Logger: quiet})
	defer c.Close()
	site := newSite(t, c, `
fragments:
  echo:
    remote:
      url: "`+svc.URL+`/f/{v}?q={q}&id={id}"
      params: [{name: v, required: true}, {name: q}, {name: id, required: true}]
pages:
  - name: echo
    path: /p/{v}
    layout: plain
    includes:
      - {fragment: echo, slot: main, primary: true, params: {v: "{route.v}", q: "{query.q}", id: "{query.id}"}}
`)
	ts := webServer(t, site)

	for i, tc := range []struct {
		class string
		value string // what the client means
		path  string // how it writes it in the page's path ("": the value's own escaping)
	}{
		{"unreserved", "aZ09-._~", ""},
		{"reserved ?", "x?y", "x%3Fy"},
		{"reserved sub-delims", "a&b=c;d,e+f!$'()*", ""},
		{"reserved gen-delims", "a:b@c[d]#e", "a:b@c%5Bd%5D%23e"},
		{"percent", "100%", "100%25"},
		{"percent escape", "%41%2F", "%2541%252F"},
		{"space", "a b", "a%20b"},
		{"unicode", "café 日本", "caf%C3%A9%20%E6%97%A5%E6%9C%AC"},
		{"unicode raw", "naïve", "naïve"},
		{"dot segment", "..x", ""},
		// Escapes Go would not have written (lower-case hex, an escaped
		// comma or letter): the router then matches the escaped path.
		{"reserved ?, lower-case escape", "x?y", "x%3fy"},
		{"escaped sub-delim", "a,b", "a%2Cb"},
		{"escaped unreserved", "A~", "%41%7E"},
		{"percent, escaped letter beside", "100%A", "100%25%41"},
		{"unicode, lower-case escape", "café", "caf%c3%a9"},
	} {
		t.Run(tc.class, func(t *testing.T) {
			id := "c" + string(rune('a'+i))
			p := tc.path
			if p == "" {
				p = (&url.URL{Path: tc.value}).EscapedPath()
			}
			resp, err := http.Get(ts.URL + "/p/" + p + "?q=" + url.QueryEscape(tc.value) + "&id=" + id)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("page status %d", resp.StatusCode)
			}
			mu.Lock()
			g, ok := seen[id]
			mu.Unlock()
			if !ok {
				t.Fatal("the service was not called")
			}
			if g.path != tc.value {
				t.Errorf("path value %q (sent as %q), want %q", g.path, g.rawPath, tc.value)
			}
			if g.query != tc.value {
				t.Errorf("query value %q (sent as %q), want %q", g.query, g.rawQuery, tc.value)
			}
		})
	}

	// A slash and dot segments cannot come through a page's path (the
	// guard refuses %2F and dot segments with a 400), but they can through
	// its query, and stay one query value.
	for i, v := range []string{"a/b", "..", ".", "../x", "/"} {
		id := "s" + string(rune('a'+i))
		resp, err := http.Get(ts.URL + "/p/plain?q=" + url.QueryEscape(v) + "&id=" + id)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		mu.Lock()
		g := seen[id]
		mu.Unlock()
		if resp.StatusCode != 200 || g.query != v || g.path != "plain" {
			t.Errorf("query %q: status %d, service saw query %q path %q", v, resp.StatusCode, g.query, g.path)
		}
	}
}
