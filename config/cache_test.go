package config

import (
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// TestPageCache: a page's cache: settings reach its Page; a page without
// them leaves the computed headers alone.
func TestPageCache(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want httpcache.Policy
	}{
		{"", httpcache.Policy{}},
		{", cache: {}", httpcache.Policy{}},
		{", cache: {max_age: 0s}", httpcache.Policy{HasMaxAge: true}},
		{", cache: {max_age: 30s, s_maxage: 10m}", httpcache.Policy{MaxAge: 30 * time.Second, HasMaxAge: true, SMaxAge: 10 * time.Minute, HasSMaxAge: true}},
		{", cache: {private: true, max_age: 1m}", httpcache.Policy{Private: true, MaxAge: time.Minute, HasMaxAge: true}},
	} {
		site, err := Parse("site.yaml", []byte("pages:\n  - {name: a, path: /, layout: front"+tc.yaml+"}\n"), testRegistry())
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if got := site.Pages[0].Cache; got != tc.want {
			t.Errorf("%q: policy %+v, want %+v", tc.yaml, got, tc.want)
		}
	}
}
