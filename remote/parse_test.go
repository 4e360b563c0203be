package remote

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

func TestParseCacheControl(t *testing.T) {
	s := time.Second
	tests := []struct {
		cc   []string
		age  string
		want Freshness
	}{
		{nil, "", Freshness{}},
		{[]string{"public"}, "", Freshness{}},
		{[]string{"max-age=60"}, "", Freshness{true, 60 * s, 0}},
		{[]string{"public, max-age=60, s-maxage=10"}, "", Freshness{true, 10 * s, 0}},
		{[]string{"max-age=60", "stale-while-revalidate=30, stale-if-error=300"}, "", Freshness{true, 60 * s, 300 * s}},
		{[]string{`MAX-AGE="5", Stale-While-Revalidate=50`}, "", Freshness{true, 5 * s, 50 * s}},
		{[]string{"max-age=60"}, "15", Freshness{true, 45 * s, 0}},
		{[]string{"max-age=60"}, "600", Freshness{true, 0, 0}},
		{[]string{"max-age=60, no-store"}, "", Freshness{Known: true}},
		{[]string{"private, max-age=60"}, "", Freshness{Known: true}},
		{[]string{"no-cache"}, "", Freshness{Known: true}},
		{[]string{`no-cache="Set-Cookie", max-age=9`}, "", Freshness{true, 9 * s, 0}},
		{[]string{"max-age=-1"}, "", Freshness{}},
		{[]string{"max-age=abc, max-age=7"}, "", Freshness{true, 7 * s, 0}},
		{[]string{"max-age=7, max-age=9"}, "", Freshness{true, 7 * s, 0}},
		{[]string{"max-age=99999999999999999999999"}, "", Freshness{true, maxAge, 0}},
		{[]string{`foo="a,max-age=1", max-age=3`}, "", Freshness{true, 3 * s, 0}},
	}
	for _, tt := range tests {
		if got := ParseCacheControl(tt.cc, tt.age); got != tt.want {
			t.Errorf("ParseCacheControl(%q, %q) = %+v, want %+v", tt.cc, tt.age, got, tt.want)
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
