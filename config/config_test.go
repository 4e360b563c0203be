package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

func TestParseValid(t *testing.T) {
	data, err := os.ReadFile("testdata/site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	site, err := Parse("site.yaml", data, testRegistry())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wantLimits := composer.Limits{Budget: 300 * time.Millisecond, MaxDepth: 3, MaxIncludes: 500, MaxFragmentBytes: 65536, Debug: false}
	if site.Limits != wantLimits {
		t.Errorf("Limits = %+v, want %+v", site.Limits, wantLimits)
	}
	if site.Source != "site.yaml" {
		t.Errorf("Source = %q", site.Source)
	}
	if got := site.FragmentNames(); !reflect.DeepEqual(got, []string{"nav", "score", "story"}) {
		t.Errorf("FragmentNames = %v", got)
	}

	score := site.Fragments["score"]
	wantScore := composer.Settings{Timeout: 60 * time.Millisecond, Fresh: 5 * time.Second, Stale: 2 * time.Minute,
		Fallback: `<span class="bs-fallback">–</span>`, Primary: true, MaxBytes: 4096}
	if score.Settings != wantScore {
		t.Errorf("score settings = %+v, want %+v", score.Settings, wantScore)
	}
	for k, want := range map[string]string{"timeout": OriginFile, "fresh": OriginFile, "stale": OriginFile,
		"fallback": OriginFile, "primary": OriginFile, "disabled": OriginCode, "max_bytes": OriginFile} {
		if score.Origin[k] != want {
			t.Errorf("score origin[%s] = %q, want %q", k, score.Origin[k], want)
		}
	}
	nav := site.Fragments["nav"]
	if !nav.Settings.Disabled || nav.Origin["disabled"] != OriginFile || nav.Origin["timeout"] != OriginCode ||
		nav.Settings.Timeout != 100*time.Millisecond {
		t.Errorf("nav = %+v %v", nav.Settings, nav.Origin)
	}
	if story := site.Fragments["story"]; story.Spec.Name != "story" || len(story.Origin) != 7 {
		t.Errorf("story = %+v", story)
	}

	if len(site.Pages) != 2 {
		t.Fatalf("got %d pages", len(site.Pages))
	}
	front := site.Pages[0]
	wantFront := &composer.Page{
		Name: "front", Path: "/", Title: "Broadsheet", Layout: "front", Budget: 300 * time.Millisecond, Line: 19,
		Includes: []*composer.PageInclude{
			{Fragment: "nav", Slot: "header"},
			{Fragment: "story", Slot: "top", Primary: true, Params: []composer.Binding{
				{Name: "city", Value: "paris"},
				{Name: "id", Value: "s002"},
				{Name: "size", From: "query", Value: "size"},
			}},
		},
	}
	if !reflect.DeepEqual(front, wantFront) {
		t.Errorf("front page:\n got %s\nwant %s", dump(front), dump(wantFront))
	}
	city := site.Pages[1]
	if city.Budget != time.Second || city.Path != "/city/{city:[a-z]+}/{match}" || len(city.Includes) != 2 ||
		!reflect.DeepEqual(city.Includes[0].Params, []composer.Binding{{Name: "match", From: "route", Value: "match"}}) ||
		!reflect.DeepEqual(city.Includes[1].Params[0], composer.Binding{Name: "city", From: "route", Value: "city"}) {
		t.Errorf("city page: %s", dump(city))
	}
}

func dump(p *composer.Page) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(strings.ReplaceAll(
		strings.Join([]string{p.Name, p.Path, p.Title, p.Layout, p.Budget.String()}, " "), "\n", " ")))
	for _, in := range p.Includes {
		b.WriteString(" | ")
		b.WriteString(in.Fragment + "@" + in.Slot)
		for _, bd := range in.Params {
			b.WriteString(" " + bd.Name + "=" + bd.From + ":" + bd.Value)
		}
	}
	return b.String()
}

func TestParseDefaults(t *testing.T) {
	site, err := Parse("site.yaml", []byte("pages: []\n"), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if site.Limits != composer.DefaultLimits {
		t.Errorf("Limits = %+v, want the defaults", site.Limits)
	}
	for name, f := range site.Fragments {
		if f.Settings != f.Spec.Defaults {
			t.Errorf("%s: settings %+v, want the Spec's defaults", name, f.Settings)
		}
		for k, v := range f.Origin {
			if v != OriginCode {
				t.Errorf("%s: origin[%s] = %q", name, k, v)
			}
		}
	}
}

// page wraps includes (already indented as list items under includes:) in a
// page whose includes start at line 6.
func page(path, includes string) string {
	return "pages:\n  - name: p\n    path: " + path + "\n    layout: front\n    includes:\n" + includes
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		line  int
		field string
		msg   string
	}{
		{"empty", "", 0, "", "empty file"},
		{"comments only", "# nothing\n", 0, "", "empty file"},
		{"null", "~\n", 0, "", "empty file"},
		{"syntax", "site:\n  budget: 1s\n   max_depth: 3\n", 3, "", "invalid YAML"},
		{"tab", "site:\n\tbudget: 1s\n", 2, "", "invalid YAML"},
		{"two documents", "site: {}\n---\nsite: {}\n", 2, "", "second YAML document"},
		{"top not mapping", "- a\n", 1, "", "want a mapping"},
		{"unknown top field", "site: {}\npage: []\n", 2, "page", `unknown field (did you mean "pages"?)`},
		{"duplicate top field", "site: {}\nsite: {}\n", 2, "site", "duplicate field (first at line 1)"},
		{"merge key", "fragments:\n  score: &s {timeout: 1s}\n  nav:\n    <<: *s\n", 4, "fragments.nav", "merge keys (<<) are not supported"},
		{"budget no unit", "site:\n  budget: 250\n", 2, "site.budget", "invalid duration"},
		{"budget zero", "site:\n  budget: 0s\n", 2, "site.budget", "must be positive"},
		{"budget too long", "site:\n  budget: 61s\n", 2, "site.budget", "over the maximum of 1m0s"},
		{"max_depth range", "site:\n  max_depth: 17\n", 2, "site.max_depth", "out of range 1..16"},
		{"max_depth string", "site:\n  max_depth: four\n", 2, "site.max_depth", "want an integer"},
		{"max_includes range", "site:\n  max_includes: 0\n", 2, "site.max_includes", "out of range"},
		{"max_fragment_bytes small", "site:\n  max_fragment_bytes: 1000\n", 2, "site.max_fragment_bytes", "out of range 1024..67108864"},
		{"debug not bool", "site:\n  debug: maybe\n", 2, "site.debug", "want true or false"},
		{"explorer unknown", "site:\n  explorer: everyone\n", 2, "site.explorer", `want public or admin, got "everyone"`},
		{"explorer not string", "site:\n  explorer: [public]\n", 2, "site.explorer", "want a string"},
		{"site unknown field", "site:\n  budgte: 1s\n", 2, "site.budgte", `did you mean "budget"?`},
		{"csp unknown directive", "site:\n  csp:\n    script-src: [a.example]\n", 3, "site.csp.script-src", `did you mean "script_src"?`},
		{"csp not a list", "site:\n  csp:\n    img_src: https://i.example\n", 3, "site.csp.img_src", "want a list"},
		{"csp two sources in one", "site:\n  csp:\n    script_src: ['https://a.example https://b.example']\n", 3, "site.csp.script_src[0]", `' ' is not allowed`},
		{"csp directive injected", "site:\n  csp:\n    style_src: ['a.example; script-src *']\n", 3, "site.csp.style_src[0]", `';' is not allowed`},
		{"csp unknown keyword", "site:\n  csp:\n    script_src: [\"'self'\", \"'unsafe-inlined'\"]\n", 3, "site.csp.script_src[1]", "unknown keyword"},
		{"csp keyword unquoted", "site:\n  csp:\n    connect_src: [self, 'https:', 'https//x']\n", 3, "site.csp.connect_src[2]", "a path cannot start with //"},
		{"csp none", "site:\n  csp:\n    frame_src:\n      - \"'none'\"\n", 4, "site.csp.frame_src[0]", "leave the field out"},
		{"csp bad nonce", "site:\n  csp:\n    script_src: [\"'nonce-'\"]\n", 3, "site.csp.script_src[0]", "not base64"},
		{"csp bad host", "site:\n  csp:\n    font_src: ['https://fonts_example.com']\n", 3, "site.csp.font_src[0]", "invalid host"},
		{"fragment unknown", "fragments:\n  scor: {timeout: 1s}\n", 2, "fragments.scor", `unknown fragment "scor" (did you mean "score"?)`},
		{"fragment timeout zero", "fragments:\n  score:\n    timeout: 0s\n", 3, "fragments.score.timeout", "must be positive"},
		{"fragment timeout max", "fragments:\n  score:\n    timeout: 31s\n", 3, "fragments.score.timeout", "over the maximum of 30s"},
		{"fragment fresh negative", "fragments:\n  score:\n    fresh: -1s\n", 3, "fragments.score.fresh", "must not be negative"},
		{"fragment stale bad", "fragments:\n  score:\n    stale: soon\n", 3, "fragments.score.stale", "invalid duration"},
		{"fragment fallback map", "fragments:\n  score:\n    fallback: {a: b}\n", 3, "fragments.score.fallback", "want a string"},
		{"fragment fallback huge", "fragments:\n  score:\n    fallback: " + strings.Repeat("x", 65<<10) + "\n", 3, "fragments.score.fallback", "over the maximum of 65536"},
		{"fragment primary", "fragments:\n  score:\n    primary: 1\n", 3, "fragments.score.primary", "want true or false"},
		{"fragment max_bytes small", "fragments:\n  score:\n    max_bytes: 100\n", 3, "fragments.score.max_bytes", "100 is out of range 1024..67108864"},
		{"fragment max_bytes huge", "fragments:\n  score:\n    max_bytes: 67108865\n", 3, "fragments.score.max_bytes", "out of range 1024..67108864"},
		{"fragment max_bytes unit", "fragments:\n  score:\n    max_bytes: 2MiB\n", 3, "fragments.score.max_bytes", "want an integer from 1024 to 67108864"},
		{"fragment unknown field", "fragments:\n  score:\n    ttl: 1s\n", 3, "fragments.score.ttl", "unknown field"},
		{"pages not list", "pages: {}\n", 1, "pages", "want a list"},
		{"page not mapping", "pages:\n  - front\n", 2, "pages[0]", "want a mapping"},
		{"page name missing", "pages:\n  - path: /\n    layout: front\n", 2, "pages[0].name", "required field is missing"},
		{"page name invalid", "pages:\n  - {name: Front, path: /, layout: front}\n", 2, "pages[0].name", "invalid page name"},
		{"page name duplicate", "pages:\n  - {name: a, path: /, layout: front}\n  - {name: a, path: /b, layout: front}\n", 3, "pages[1].name", "duplicate page name \"a\" (first at line 2)"},
		{"page path empty", "pages:\n  - {name: a, path: '', layout: front}\n", 2, "pages[0].path", "must not be empty"},
		{"page path relative", "pages:\n  - {name: a, path: a/b, layout: front}\n", 2, "pages[0].path", "must start with /"},
		{"page path reserved static", "pages:\n  - {name: a, path: /static/x, layout: front}\n", 2, "pages[0].path", "/static/ is reserved"},
		{"page path reserved internal", "pages:\n  - {name: a, path: /_/explorer, layout: front}\n", 2, "pages[0].path", "/_/ is reserved"},
		{"page path reserved healthz", "pages:\n  - {name: a, path: /healthz, layout: front}\n", 2, "pages[0].path", "/healthz/ is reserved"},
		{"page path reserved metrics", "pages:\n  - {name: a, path: /metrics, layout: front}\n", 2, "pages[0].path", "/metrics/ is reserved"},
		{"page path unclosed", "pages:\n  - {name: a, path: '/x/{id', layout: front}\n", 2, "pages[0].path", "missing its closing }"},
		{"page path wildcard", "pages:\n  - {name: a, path: '/x/*/y', layout: front}\n", 2, "pages[0].path", "wildcard * must come last"},
		{"page path duplicate key", "pages:\n  - {name: a, path: '/{id}/{id}', layout: front}\n", 2, "pages[0].path", "{id} appears twice"},
		{"page path bad regexp", "pages:\n  - {name: a, path: '/{id:[a-}', layout: front}\n", 2, "pages[0].path", "invalid regexp"},
		{"page path space", "pages:\n  - {name: a, path: '/a b', layout: front}\n", 2, "pages[0].path", "must not contain"},
		{"page path duplicate", "pages:\n  - {name: a, path: '/w/{city}', layout: front}\n  - {name: b, path: '/w/{town}', layout: front}\n", 3, "pages[1].path", `same route as page "a"`},
		{"page layout unknown", "pages:\n  - {name: a, path: /, layout: fornt}\n", 2, "pages[0].layout", `unknown layout "fornt" (did you mean "front"?)`},
		{"page budget", "pages:\n  - {name: a, path: /, layout: front, budget: 2m}\n", 2, "pages[0].budget", "over the maximum"},
		{"page cache not a map", "pages:\n  - {name: a, path: /, layout: front, cache: 30s}\n", 2, "pages[0].cache", "want a mapping"},
		{"page cache unknown field", "pages:\n  - name: a\n    path: /\n    layout: front\n    cache:\n      maxage: 30s\n", 6, "pages[0].cache.maxage", `did you mean "max_age"?`},
		{"page cache max_age", "pages:\n  - name: a\n    path: /\n    layout: front\n    cache: {max_age: 30}\n", 5, "pages[0].cache.max_age", "invalid duration"},
		{"page cache max_age negative", "pages:\n  - {name: a, path: /, layout: front, cache: {max_age: -1s}}\n", 2, "pages[0].cache.max_age", "must not be negative"},
		{"page cache s_maxage", "pages:\n  - {name: a, path: /, layout: front, cache: {s_maxage: 9000h}}\n", 2, "pages[0].cache.s_maxage", "over the maximum"},
		{"page cache private", "pages:\n  - {name: a, path: /, layout: front, cache: {private: maybe}}\n", 2, "pages[0].cache.private", "want true or false"},
		{"page cache private shared", "pages:\n  - {name: a, path: /, layout: front, cache: {private: true, s_maxage: 1m}}\n", 2, "pages[0].cache.private", "no s_maxage"},
		{"page unknown field", "pages:\n  - name: a\n    path: /\n    layout: front\n    titel: x\n", 5, "pages[0].titel", `did you mean "title"?`},
		{"includes not list", page("/", "      fragment: nav\n"), 6, "pages[0].includes", "want a list"},
		{"include fragment unknown", page("/", "      - fragment: nva\n        slot: a\n"), 6, "pages[0].includes[0].fragment", `unknown fragment "nva" (did you mean "nav"?)`},
		{"include fragment missing", page("/", "      - slot: a\n"), 6, "pages[0].includes[0].fragment", "required field is missing"},
		{"include slot missing", page("/", "      - fragment: nav\n"), 6, "pages[0].includes[0].slot", "required field is missing"},
		{"include slot invalid", page("/", "      - {fragment: nav, slot: Top}\n"), 6, "pages[0].includes[0].slot", "invalid slot name"},
		{"include slot typo", page("/", "      - {fragment: nav, slot: mian}\n"), 6, "pages[0].includes[0].slot", `layout "front" has no slot "mian" (did you mean "main"?); its slots: a, b, header, main, top, x`},
		{"include slot of another layout", "pages:\n  - name: p\n    path: /\n    layout: article\n    includes:\n      - {fragment: nav, slot: top}\n", 6, "pages[0].includes[0].slot", `layout "article" has no slot "top"; its slots: main`},
		{"include primary", page("/", "      - {fragment: nav, slot: a, primary: yes please}\n"), 6, "pages[0].includes[0].primary", "want true or false"},
		{"include unknown field", page("/", "      - fragment: nav\n        slot: a\n        param: {}\n"), 8, "pages[0].includes[0].param", `did you mean "params"?`},
		{"param undeclared", page("/", "      - fragment: score\n        slot: a\n        params:\n          match: m1\n          mtch: m2\n"), 10, "pages[0].includes[0].params.mtch", `fragment "score" has no param "mtch" (did you mean "match"?)`},
		{"param pattern", page("/", "      - fragment: story\n        slot: a\n        params:\n          id: x1\n"), 9, "pages[0].includes[0].params.id", "value does not match its pattern"},
		{"param values", page("/", "      - fragment: story\n        slot: a\n        params: {id: s001, size: huge}\n"), 8, "pages[0].includes[0].params.size", "value is not one of the allowed values"},
		{"param too long", page("/", "      - fragment: score\n        slot: a\n        params: {match: abcdefghi}\n"), 8, "pages[0].includes[0].params.match", "longer than 8 bytes"},
		{"param not scalar", page("/", "      - fragment: score\n        slot: a\n        params: {match: [a]}\n"), 8, "pages[0].includes[0].params.match", "want a string"},
		{"param required missing", page("/", "      - fragment: score\n        slot: a\n"), 6, "pages[0].includes[0].params", `missing required param "match" of fragment "score"`},
		{"param required empty", page("/", "      - fragment: score\n        slot: a\n        params: {match: ''}\n"), 8, "pages[0].includes[0].params", `missing required param "match"`},
		{"route unknown", page("/w/{city}", "      - fragment: score\n        slot: a\n        params: {match: '{route.town}'}\n"), 8, "pages[0].includes[0].params.match", "no {town} placeholder"},
		{"route on regexp path", page("/w/{city:[a-z]+}", "      - fragment: score\n        slot: a\n        params: {match: '{route.match}'}\n"), 8, "pages[0].includes[0].params.match", "no {match} placeholder"},
		{"query invalid", page("/", "      - fragment: score\n        slot: a\n        params: {match: '{query.a b}'}\n"), 8, "pages[0].includes[0].params.match", "invalid query name"},
		{"chi style binding", page("/w/{city}", "      - fragment: score\n        slot: a\n        params: {match: '{city}'}\n"), 8, "pages[0].includes[0].params.match", "want {route.NAME} or {query.NAME}"},
		{"interpolation", page("/w/{city}", "      - fragment: score\n        slot: a\n        params: {match: 'm-{route.city}'}\n"), 8, "pages[0].includes[0].params.match", "a binding must be the whole value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site, err := Parse("site.yaml", []byte(tt.yaml), testRegistry())
			if err == nil {
				t.Fatalf("Parse succeeded, want an error at line %d", tt.line)
			}
			if site != nil {
				t.Errorf("Parse returned a Site with an error")
			}
			var list List
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want exactly one error, got:\n%v", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("errors.As(*Error) failed for %v", err)
			}
			if e.File != "site.yaml" || e.Line != tt.line || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %s (line %d, field %q)\nwant line %d, field %q, message containing %q", e, e.Line, e.Field, tt.line, tt.field, tt.msg)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "site.yaml", Line: 12, Column: 7, Field: "pages[0].includes[3].fragment", Msg: `unknown fragment "scor"`},
			`site.yaml:12:7: pages[0].includes[3].fragment: unknown fragment "scor"`},
		{Error{File: "site.yaml", Line: 3, Msg: "invalid YAML: x"}, "site.yaml:3: invalid YAML: x"},
		{Error{File: "site.yaml", Field: "fragments", Msg: "include cycle a → b → a"}, "site.yaml: fragments: include cycle a → b → a"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestParseAllErrors checks that Parse reports every problem, sorted by line.
func TestParseAllErrors(t *testing.T) {
	src := `pages:
  - name: a
    path: /x
    layout: nope
    includes:
      - {fragment: nope, slot: a}
site:
  budget: forever
fragments:
  ghost: {}
`
	_, err := Parse("site.yaml", []byte(src), testRegistry())
	var list List
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want a List", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Field)
	}
	want := []string{"pages[0].layout", "pages[0].includes[0].fragment", "site.budget", "fragments.ghost"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields = %v, want %v\n%v", got, want, err)
	}
	if !strings.HasPrefix(err.Error(), "site.yaml:4:13: pages[0].layout: unknown layout") {
		t.Errorf("text = %q", err.Error())
	}
}

func TestParseRegistryErrors(t *testing.T) {
	reg := testRegistry(nil, spec("nav", nil))
	_, err := Parse("site.yaml", []byte("pages: []\n"), reg)
	var list List
	if !errors.As(err, &list) || len(list) != 2 || list[0].Field != "registry" || list[1].Field != "registry" {
		t.Fatalf("got %v, want two registry errors", err)
	}

	// Layouts and their slots must agree: a layout without its slot list
	// could not have its pages' includes checked.
	reg = testRegistry()
	reg.Slots = map[string][]string{"front": {"a"}, "plain": {"main"}}
	_, err = Parse("site.yaml", []byte("pages: []\n"), reg)
	for _, want := range []string{`layout "article" has no slots listed`, `slots listed for layout "plain", which is not registered`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error with %q", err, want)
		}
	}
}

func TestParseAliases(t *testing.T) {
	src := `shared: &inc
  - {fragment: nav, slot: header}
pages:
  - {name: a, path: /a, layout: front, includes: *inc}
  - {name: b, path: /b, layout: front, includes: *inc}
`
	// Unknown top-level keys are errors, so anchors must live somewhere
	// known: use the first page's includes instead.
	_, err := Parse("site.yaml", []byte(src), testRegistry())
	var e *Error
	if !errors.As(err, &e) || e.Field != "shared" {
		t.Fatalf("got %v, want an unknown field error for shared", err)
	}
	src = `pages:
  - {name: a, path: /a, layout: front, includes: &inc [{fragment: nav, slot: header}]}
  - {name: b, path: /b, layout: front, includes: *inc}
`
	site, err := Parse("site.yaml", []byte(src), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if len(site.Pages[1].Includes) != 1 || site.Pages[1].Includes[0].Fragment != "nav" {
		t.Errorf("alias not followed: %s", dump(site.Pages[1]))
	}
}

// TestParseAliasBomb checks that aliases standing for far more nodes than
// the file holds are refused quickly instead of being walked: here 300 pages
// of 300 includes of 300 params, from a file of a few kilobytes.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("pages:\n  - name: p0\n    path: /\n    layout: front\n    includes: &l\n")
	b.WriteString("      - &i {fragment: nav, slot: a, params: &p {")
	for i := range 300 {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	b.WriteString("}}\n")
	b.WriteString(strings.Repeat("      - *i\n", 299))
	for i := 1; i < 300; i++ {
		fmt.Fprintf(&b, "  - {name: p%d, path: /p%d, layout: front, includes: *l}\n", i, i)
	}
	start := time.Now()
	_, err := Parse("site.yaml", []byte(b.String()), testRegistry())
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "too large") {
		t.Fatalf("got %.300v, want a too large error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestLoad(t *testing.T) {
	site, err := Load("testdata/site.yaml", testRegistry())
	if err != nil || site.Source != "testdata/site.yaml" {
		t.Fatalf("Load = %v, %v", site, err)
	}
	if _, err := Load("testdata/missing.yaml", testRegistry()); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestParseErrorCap(t *testing.T) {
	src := "pages:\n" + strings.Repeat("  - {name: p, path: /, layout: nope}\n", 200)
	_, err := Parse("site.yaml", []byte(src), testRegistry())
	var list List
	if !errors.As(err, &list) || len(list) != maxErrors+1 {
		t.Fatalf("got %d errors, want %d", len(list), maxErrors+1)
	}
	if last := list[len(list)-1]; !strings.HasSuffix(last.Msg, "more errors not shown") {
		t.Errorf("last error = %v", last)
	}
}

// TestFallbackIsNormalized: a fallback is normalized when the configuration
// sets it, so that it cannot break the pages it is placed in.
func TestFallbackIsNormalized(t *testing.T) {
	site, err := Parse("site.yaml", []byte("fragments:\n  score:\n    fallback: '<div class=\"x\"><table><tr><td>open'\n"), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	want := `<div class="x"><table><tbody><tr><td>open</td></tr></tbody></table></div>`
	if got := site.Fragments["score"].Settings.Fallback; got != want {
		t.Fatalf("fallback = %q, want %q", got, want)
	}
}

// TestExplorerExposure: the explorer is the admin's unless site.yaml opens
// it to everyone.
func TestExplorerExposure(t *testing.T) {
	for yaml, want := range map[string]bool{
		"site: {budget: 1s}\n":       false,
		"site: {explorer: admin}\n":  false,
		"site: {explorer: public}\n": true,
	} {
		site, err := Parse("site.yaml", []byte(yaml), testRegistry())
		if err != nil {
			t.Fatal(err)
		}
		if site.Limits.PublicExplorer != want {
			t.Errorf("%q: PublicExplorer %v, want %v", yaml, site.Limits.PublicExplorer, want)
		}
	}
}
