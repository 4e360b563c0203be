package csp_test

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/web/csp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheckSource(t *testing.T) {
	valid := []string{
		"'self'", "'SELF'", "'unsafe-inline'", "'unsafe-eval'", "'strict-dynamic'", "'unsafe-hashes'",
		"'report-sample'", "'wasm-unsafe-eval'", "'nonce-R4nd0m+/_-=='", "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
		"'sha384-x'", "'SHA512-x'", "https:", "data:", "blob:", "web+app:", "*", "cdn.example", "*.cdn.example",
		"cdn.example.", "https://cdn.example", "https://cdn.example:8443", "http://127.0.0.1:8081", "https://*.example:*",
		"https://cdn.example/assets/", "https://cdn.example/a%20b/c.js",
	}
	for _, s := range valid {
		if err := csp.CheckSource(s); err != nil {
			t.Errorf("CheckSource(%q) = %v, want nil", s, err)
		}
	}
	invalid := map[string]string{
		"":                            "empty",
		"'none'":                      "cannot be combined",
		"self":                        "", // a host named self: valid, see below
		"'self":                       "must end with a quote",
		"'unsafe-inlined'":            "unknown keyword",
		"'md5-abc'":                   "unknown keyword",
		"'nonce-'":                    "not base64",
		"'nonce-a b'":                 "not base64",
		"'sha256-abc==='":             "not base64",
		"https://a.example https://b": "' ' is not allowed",
		"a.example;script-src *":      "';' is not allowed",
		"a.example,b.example":         "',' is not allowed",
		"https://cdn.example/x;":      "';' is not allowed",
		"\"https://cdn.example\"":     `'"' is not allowed`,
		"https://":                    "no host",
		"1https://x":                  "invalid scheme",
		"ht_tp:":                      "invalid scheme",
		"https://cdn_example":         "invalid host",
		"https://cdn..example":        "empty label",
		"https://[::1]:80":            "invalid host",
		"https://x.example:":          "invalid port",
		"https://x.example:123456":    "invalid port",
		"https://x.example:8o":        "invalid port",
		"https://x.example//a":        "cannot start with //",
		"https://x.example/a%zz":      "invalid escape",
		"https://x.example/a?b":       "'?' is not allowed",
		"https://x.example/a#b":       "'#' is not allowed",
		"https://x.example/\x00":      "is not allowed",
		"https://x.example/é":         "is not allowed",
		strings.Repeat("a", 600):      "over the maximum",
		"*.":                          "no host",
		"**.example":                  "invalid host",
	}
	for s, msg := range invalid {
		err := csp.CheckSource(s)
		if msg == "" {
			if err != nil {
				t.Errorf("CheckSource(%q) = %v, want nil", s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.HasPrefix(err.Error(), "csp: ") {
			t.Errorf("CheckSource(%q) = %v, want an error containing %q", s, err, msg)
		}
	}
	if !errors.Is(csp.CheckSource("'none'"), csp.ErrNone) {
		t.Error("'none' is not ErrNone")
	}
}

func TestPolicy(t *testing.T) {
	if got, want := csp.Base.Header("N"), "default-src 'self'; script-src 'self' 'nonce-N'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"; got != want {
		t.Errorf("Base:\n got %s\nwant %s", got, want)
	}
	site := &composer.Site{
		CSP: map[string][]string{
			"script-src":  {"https://analytics.example", "'SELF'"},
			"img-src":     {"https://images.example"},
			"frame-src":   {"https://video.example"},
			"connect-src": {"https://analytics.example"},
		},
		Fragments: map[string]*composer.Fragment{
			"promo": {Spec: &composer.Spec{Name: "promo", AssetOrigins: []string{"http://127.0.0.1:8081", "https://CDN.example"}}},
			"local": {Spec: &composer.Spec{Name: "local", Assets: []string{"/static/x.css", "https://fonts.example/f.css"}}},
			"ipv6":  {Spec: &composer.Spec{Name: "ipv6", AssetOrigins: []string{"http://[::1]:8081"}}},
			"same":  {Spec: &composer.Spec{Name: "same", AssetOrigins: []string{"https://cdn.example"}}},
		},
	}
	got := csp.ForSite(site).Header("N")
	want := "default-src 'self'; " +
		"script-src 'self' https://analytics.example http://127.0.0.1:8081 https://cdn.example https://fonts.example 'nonce-N'; " +
		"style-src 'self' 'unsafe-inline' http://127.0.0.1:8081 https://cdn.example https://fonts.example; " +
		"img-src 'self' data: https://images.example; connect-src 'self' https://analytics.example; frame-src 'self' https://video.example; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	if got != want {
		t.Errorf("ForSite:\n got %s\nwant %s", got, want)
	}
}
