package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

// fakeRemote stands in for remote.Client.Spec: it builds a Spec the way
// the real factory does, and fails on a URL containing "bad".
func fakeRemote(name string, rc RemoteConfig, local *composer.Spec) (*composer.Spec, error) {
	if rc.Batch && strings.Contains(rc.URL, "nobatch") {
		return nil, errors.New("remote: url " + fmt.Sprintf("%q", rc.URL) + ": batch: a batched URL's path cannot hold a placeholder")
	}
	if rc.H2C && !strings.HasPrefix(rc.URL, "http:") {
		return nil, errors.New("remote: url " + fmt.Sprintf("%q", rc.URL) + ": h2c is HTTP/2 over cleartext: for an http:// URL, and not with batch")
	}
	if strings.Contains(rc.URL, "bad") {
		return nil, errors.New("remote: url " + fmt.Sprintf("%q", rc.URL) + ": want an absolute http:// or https:// URL")
	}
	src := "remote: " + rc.URL
	if rc.Batch {
		src += " (batch)"
	}
	if rc.Sanitize {
		src += " (sanitized)"
	}
	if rc.H2C {
		src += " (h2c)"
	}
	s := &composer.Spec{Name: name, Defaults: composer.Settings{Timeout: 100 * time.Millisecond}, Source: src,
		Render: func(context.Context, composer.Params) (templ.Component, error) { return nil, nil }}
	if local != nil {
		s.Params, s.Defaults, s.Includes = local.Params, local.Defaults, local.Includes
	}
	if rc.Params != nil {
		s.Params = rc.Params
	}
	if rc.Includes != nil {
		s.Includes = rc.Includes
	}
	s.AssetOrigins = append([]string{composer.Origin(rc.URL)}, rc.AssetOrigins...)
	return s, nil
}

func remoteRegistry() Registry {
	reg := testRegistry()
	reg.Remote = fakeRemote
	return reg
}

func TestParseRemote(t *testing.T) {
	src := `fragments:
  score:
    remote:
      url: "http://127.0.0.1:9101/fragments/score?match={match}"
    timeout: 80ms
  weather:
    remote:
      url: "http://127.0.0.1:9102/weather/{city}"
      params:
        - {name: city, required: true, pattern: "[a-z-]+", max_len: 32, doc: A city.}
        - {name: units, values: [c, f], default: c}
      includes: [score]
      batch: false
  forecast:
    remote: {url: "http://127.0.0.1:9102/fragments/forecast?city={city}", params: [{name: city}], batch: true, sanitize: true}
  ticker:
    remote: {url: "http://127.0.0.1:9103/ticker", h2c: true}
pages:
  - name: p
    path: /w/{city}
    layout: front
    includes:
      - {fragment: weather, slot: a, params: {city: "{route.city}"}}
      - {fragment: score, slot: a, params: {match: m1}}
`
	site, err := Parse("site.yaml", []byte(src), remoteRegistry())
	if err != nil {
		t.Fatal(err)
	}
	score := site.Fragments["score"]
	if score.Spec.Source != "remote: http://127.0.0.1:9101/fragments/score?match={match}" {
		t.Errorf("score was not replaced: %+v", score.Spec)
	}
	if score.Settings.Timeout != 80*time.Millisecond || score.Origin["timeout"] != OriginFile || score.Origin["fresh"] != OriginCode {
		t.Errorf("score settings %+v %v", score.Settings, score.Origin)
	}
	if score.Spec.Param("match") == nil || !score.Spec.Param("match").Required {
		t.Errorf("score params not taken from the registered Spec: %+v", score.Spec.Params)
	}
	w := site.Fragments["weather"]
	if w == nil {
		t.Fatal("weather was not added")
	}
	wantParams := []composer.ParamSpec{
		{Name: "city", Required: true, Pattern: "[a-z-]+", MaxLen: 32, Doc: "A city."},
		{Name: "units", Values: []string{"c", "f"}, Default: "c"},
	}
	if !reflect.DeepEqual(w.Spec.Params, wantParams) || !reflect.DeepEqual(w.Spec.Includes, []string{"score"}) {
		t.Errorf("weather spec: %+v", w.Spec)
	}
	if fc := site.Fragments["forecast"]; fc == nil || !strings.HasSuffix(fc.Spec.Source, " (batch) (sanitized)") {
		t.Errorf("forecast was not declared batched and sanitized: %+v", fc)
	}
	if tk := site.Fragments["ticker"]; tk == nil || !strings.HasSuffix(tk.Spec.Source, " (h2c)") {
		t.Errorf("ticker was not declared h2c: %+v", tk)
	}
	if strings.Contains(w.Spec.Source, " (batch)") || strings.Contains(score.Spec.Source, " (batch)") {
		t.Errorf("batch is not the default")
	}
	if strings.Contains(w.Spec.Source, " (sanitized)") || strings.Contains(score.Spec.Source, " (sanitized)") {
		t.Errorf("sanitize is not the default")
	}
	if w.Settings.Timeout != 100*time.Millisecond || len(w.Origin) != 6 {
		t.Errorf("weather settings %+v %v", w.Settings, w.Origin)
	}
}

func TestParseRemoteInvalid(t *testing.T) {
	frag := func(body string) string { return "fragments:\n  score:\n    remote:\n" + body }
	tests := []struct {
		name  string
		reg   Registry
		yaml  string
		line  int
		field string
		msg   string
	}{
		{"not enabled", testRegistry(), frag("      url: http://h/x\n"), 3, "fragments.score.remote", "not enabled"},
		{"url missing", remoteRegistry(), frag("      includes: []\n"), 4, "fragments.score.remote.url", "required field is missing"},
		{"url refused", remoteRegistry(), frag("      url: http://bad/x\n"), 4, "fragments.score.remote.url", "want an absolute http"},
		{"unknown field", remoteRegistry(), frag("      url: http://h/x\n      headers: {}\n"), 5, "fragments.score.remote.headers", "unknown field"},
		{"include unknown", remoteRegistry(), frag("      url: http://h/x\n      includes: [nva]\n"), 5, "fragments.score.remote.includes[0]", `unknown fragment "nva"`},
		{"param name", remoteRegistry(), frag("      url: http://h/x\n      params: [{name: Match}]\n"), 5, "fragments.score.remote.params[0].name", "invalid param name"},
		{"param twice", remoteRegistry(), frag("      url: http://h/x\n      params: [{name: a}, {name: a}]\n"), 5, "fragments.score.remote.params[1].name", "declared twice"},
		{"param pattern", remoteRegistry(), frag("      url: http://h/x\n      params: [{name: a, pattern: '[a-'}]\n"), 5, "fragments.score.remote.params[0].pattern", "invalid pattern"},
		{"param max_len", remoteRegistry(), frag("      url: http://h/x\n      params: [{name: a, max_len: 0}]\n"), 5, "fragments.score.remote.params[0].max_len", "out of range"},
		{"new without params", remoteRegistry(), "fragments:\n  ghost:\n    remote: {url: 'http://h/{id}'}\n", 3, "fragments.ghost.remote.params", "must be declared"},
		{"page uses remote params", remoteRegistry(),
			"fragments:\n  ghost:\n    remote: {url: 'http://h/{id}', params: [{name: id, pattern: 'g[0-9]'}]}\n" +
				page("/", "      - {fragment: ghost, slot: a, params: {id: x}}\n"), 9, "pages[0].includes[0].params.id", "does not match its pattern"},
		{"batch not a bool", remoteRegistry(), frag("      url: http://h/x\n      batch: yes\n"), 5, "fragments.score.remote.batch", "want true or false"},
		{"batch null", remoteRegistry(), frag("      url: http://h/x\n      batch:\n"), 5, "fragments.score.remote.batch", "want true or false"},
		{"sanitize not a bool", remoteRegistry(), frag("      url: http://h/x\n      sanitize: please\n"), 5, "fragments.score.remote.sanitize", "want true or false"},
		{"h2c not a bool", remoteRegistry(), frag("      url: http://h/x\n      h2c: 2\n"), 5, "fragments.score.remote.h2c", "want true or false"},
		{"h2c on https", remoteRegistry(), frag("      url: https://h/x\n      h2c: true\n"), 5, "fragments.score.remote.h2c", "h2c is HTTP/2 over cleartext"},
		{"batch refused", remoteRegistry(), frag("      url: http://h/nobatch/x\n      batch: true\n"), 5, "fragments.score.remote.batch", "batch: a batched URL"},
		{"asset_origins not a list", remoteRegistry(), frag("      url: http://h/x\n      asset_origins: https://cdn.example\n"), 5, "fragments.score.remote.asset_origins", "want a list"},
		{"asset_origins path", remoteRegistry(), frag("      url: http://h/x\n      asset_origins: [https://cdn.example/assets]\n"), 5, "fragments.score.remote.asset_origins[0]", "want an origin"},
		{"asset_origins scheme", remoteRegistry(), frag("      url: http://h/x\n      asset_origins: ['ftp://cdn.example']\n"), 5, "fragments.score.remote.asset_origins[0]", "want an origin"},
		{"asset_origins host only", remoteRegistry(), frag("      url: http://h/x\n      asset_origins: [cdn.example]\n"), 5, "fragments.score.remote.asset_origins[0]", "want an origin"},
		{"asset_origins two", remoteRegistry(), frag("      url: http://h/x\n      asset_origins: ['https://a.example https://b.example']\n"), 5, "fragments.score.remote.asset_origins[0]", "want an origin"},
		{"asset_origins credentials", remoteRegistry(), frag("      url: http://h/x\n      asset_origins: ['https://u:p@cdn.example']\n"), 5, "fragments.score.remote.asset_origins[0]", "want an origin"},
		{"cycle", remoteRegistry(), frag("      url: http://h/x\n      includes: [story]\n"), 0, "fragments", "include cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site, err := Parse("site.yaml", []byte(tt.yaml), tt.reg)
			if err == nil || site != nil {
				t.Fatalf("Parse = %v, %v; want an error", site, err)
			}
			var list List
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want exactly one error, got:\n%v", err)
			}
			e := list[0]
			if e.Line != tt.line || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %s (line %d, field %q)\nwant line %d, field %q, message containing %q", e, e.Line, e.Field, tt.line, tt.field, tt.msg)
			}
		})
	}
}
