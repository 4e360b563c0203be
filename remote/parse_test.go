package remote

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// TestParseFreshness reads caching headers as a shared cache does: one
// case per rule of ParseFreshness.
func TestParseFreshness(t *testing.T) {
	s := time.Second
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	date := now.Add(-time.Hour).Format(http.TimeFormat) // the service's clock, an hour behind
	cc := func(v ...string) CacheHeaders { return CacheHeaders{CacheControl: v} }
	tests := []struct {
		h    CacheHeaders
		want Freshness
	}{
		{CacheHeaders{}, Freshness{}},
		{cc("public"), Freshness{}},
		{cc("max-age=60"), Freshness{true, 60 * s, 0}},
		{cc("public, max-age=60, s-maxage=10"), Freshness{true, 10 * s, 0}},
		{cc("max-age=60", "stale-while-revalidate=30, stale-if-error=300"), Freshness{true, 60 * s, 300 * s}},
		{cc(`MAX-AGE="5", Stale-While-Revalidate=50`), Freshness{true, 5 * s, 50 * s}},
		{CacheHeaders{CacheControl: []string{"max-age=60"}, Age: "15"}, Freshness{true, 45 * s, 0}},
		{CacheHeaders{CacheControl: []string{"max-age=60"}, Age: "600"}, Freshness{true, 0, 0}},
		{cc("max-age=60, no-store"), Freshness{Known: true}},
		{cc("private, max-age=60"), Freshness{Known: true}},
		{cc("no-cache"), Freshness{Known: true}},
		{cc(`no-cache="Set-Cookie", max-age=9`), Freshness{true, 9 * s, 0}},
		{cc("max-age=7, max-age=9"), Freshness{true, 7 * s, 0}},
		{cc("max-age=99999999999999999999999"), Freshness{true, maxAge, 0}},
		{cc("max-age=99999999999999"), Freshness{true, maxAge, 0}},
		{cc(`foo="a,max-age=1", max-age=3`), Freshness{true, 3 * s, 0}},
		// An invalid lifetime is stale at once; the stale times still count.
		{cc("max-age=-1"), Freshness{Known: true}},
		{cc("max-age=-1, stale-while-revalidate=30"), Freshness{true, 0, 30 * s}},
		{cc("max-age=abc, max-age=7"), Freshness{Known: true}},
		{cc("max-age"), Freshness{Known: true}},
		{cc("s-maxage=1.5, max-age=60"), Freshness{Known: true}},
		{cc("max-age=60, stale-if-error=-5"), Freshness{true, 60 * s, 0}},
		// Expires, from Date (or now), when there is no max-age.
		{CacheHeaders{Expires: now.Add(-time.Hour + time.Minute).Format(http.TimeFormat), Date: date}, Freshness{true, 60 * s, 0}},
		{CacheHeaders{Expires: now.Add(time.Minute).Format(http.TimeFormat)}, Freshness{true, 60 * s, 0}},
		{CacheHeaders{Expires: now.Add(time.Minute).Format(http.TimeFormat), Date: "yesterday"}, Freshness{true, 60 * s, 0}},
		{CacheHeaders{Expires: "Thu, 01 Jan 1970 00:00:00 GMT", Date: date}, Freshness{Known: true}},
		{CacheHeaders{Expires: "Fri, 31 Dec 9999 23:59:59 GMT", Date: date}, Freshness{true, maxAge, 0}},
		{CacheHeaders{Expires: "0"}, Freshness{Known: true}},
		{CacheHeaders{CacheControl: []string{"stale-while-revalidate=30"}, Expires: now.Add(time.Minute).Format(http.TimeFormat), Age: "10"},
			Freshness{true, 50 * s, 30 * s}},
		{CacheHeaders{CacheControl: []string{"max-age=5"}, Expires: "Fri, 31 Dec 9999 23:59:59 GMT"}, Freshness{true, 5 * s, 0}},
		// A response that sets a cookie or varies on everything is not for
		// every reader.
		{CacheHeaders{CacheControl: []string{"public, max-age=60"}, SetCookie: true}, Freshness{Known: true}},
		{CacheHeaders{CacheControl: []string{"max-age=60"}, Vary: []string{"Accept-Encoding, *"}}, Freshness{Known: true}},
		{CacheHeaders{CacheControl: []string{"max-age=60"}, Vary: []string{"Accept-Encoding", "Cookie"}}, Freshness{true, 60 * s, 0}},
		{CacheHeaders{SetCookie: true}, Freshness{Known: true}},
	}
	for _, tt := range tests {
		if got := ParseFreshness(tt.h, now); got != tt.want {
			t.Errorf("ParseFreshness(%+v) = %+v, want %+v", tt.h, got, tt.want)
		}
	}
}

func TestParseLink(t *testing.T) {
	base, _ := url.Parse("http://frag.example:9101/fragments/score?match=m1")
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		// Tailor's fragment services.
		{[]string{`<http://localhost:8081/styles.css>; rel="stylesheet",<http://localhost:8081/bundle.js>; rel="fragment-script"`},
			[]string{"http://localhost:8081/styles.css", "http://localhost:8081/bundle.js"}},
		{[]string{`</static/a.css>; rel=preload; as=style`, `</static/a.js>; rel=preload; as="script"`, `</static/m.js>; rel=modulepreload`},
			[]string{"/static/a.css", "/static/a.js", "/static/m.js"}},
		{[]string{`<a.css>; rel=stylesheet, <//cdn.example/b.css>; rel=stylesheet`},
			[]string{"http://frag.example:9101/fragments/a.css", "http://cdn.example/b.css"}},
		{[]string{`<https://x.example/a,b.css>; rel="preload stylesheet"; title="a;b, c"`}, []string{"https://x.example/a,b.css"}},
		{[]string{`</x.css>; rel=canonical, </y.css>; rel=preconnect, </z.css>; rel=preload; as=font`}, nil},
		{[]string{`</x.js>; rel=stylesheet, </y.css>; rel=fragment-script`}, nil}, // misplaced kinds
		{[]string{`<javascript:alert(1)>; rel=fragment-script, <data:text/css,x>; rel=stylesheet`}, nil},
		{[]string{`</a"onload=x.css>; rel=stylesheet, <http://u:p@h/a.css>; rel=stylesheet`}, nil},
		{[]string{`</a.css>; rel=stylesheet, </a.css>; rel=stylesheet; rel=canonical`}, []string{"/a.css"}},
		{[]string{`garbage, </ok.css>; rel=stylesheet`, `<unterminated; rel=stylesheet`}, []string{"/ok.css"}},
	}
	for _, tt := range tests {
		if got := ParseLink(tt.in, base); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseLink(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var tmplParams = []composer.ParamSpec{{Name: "a"}, {Name: "b"}}

func TestParseTemplate(t *testing.T) {
	bad := map[string]string{
		"/fragments/x":   "absolute",
		"ftp://h/x":      "absolute",
		"http:///x":      "host",
		"http://{a}/x":   "scheme or host",
		"http://h:{a}/x": "scheme or host",
		"http://h/{c}":   "not a declared param",
		"http://h/{a":    "closing",
		"http://h/a}":    "unexpected",
		"http://u:p@h/x": "credentials",
		"http://h/x#{a}": "#fragment",
		"http://h/x#top": "#fragment",
		"http://h/../x":  ". or ..",
	}
	for raw, msg := range bad {
		if _, err := ParseTemplate(raw, tmplParams); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseTemplate(%q) = %v, want an error containing %q", raw, err, msg)
		}
	}
	spec := &composer.Spec{Name: "t", Params: tmplParams}
	tests := []struct {
		tmpl, a, b, want string
	}{
		{"http://h:1/f/{a}?b={b}", "x y/z", "1&c=2#", "http://h:1/f/x%20y%2Fz?b=1%26c%3D2%23"},
		{"https://h/f/{a}-{b}.html", "a?b", "", "https://h/f/a%3Fb-.html"},
		{"http://h/f?x=1&a={a}&b={b}", "é", "", "http://h/f?x=1&a=%C3%A9&b="},
	}
	for _, tt := range tests {
		tp, err := ParseTemplate(tt.tmpl, tmplParams)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := composer.NewParams(spec, map[string]string{"a": tt.a, "b": tt.b})
		got, err := tp.Expand(p)
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q, %q, %q) = %q, %v; want %q", tt.tmpl, tt.a, tt.b, got, err, tt.want)
		}
	}
	tp, _ := ParseTemplate("http://h/f/{a}{b}", tmplParams)
	for _, v := range [][2]string{{".", ""}, {"..", ""}, {".", "."}} {
		p, _ := composer.NewParams(spec, map[string]string{"a": v[0], "b": v[1]})
		if u, err := tp.Expand(p); err == nil {
			t.Errorf("Expand(%q) = %q, want a dot-segment error", v, u)
		}
	}
}
