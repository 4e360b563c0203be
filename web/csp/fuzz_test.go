package csp_test

import (
	"strings"
	"testing"

	"github.com/broadsheet/broadsheet/web/csp"
)

// FuzzCheckSource checks that CheckSource never panics and that a source
// it accepts can only ever be one source of one directive: the header made
// with it has the directives of the base policy, and the source stands in
// script-src as a single token.
func FuzzCheckSource(f *testing.F) {
	base := strings.Count(csp.Base.Header("N"), ";")
	f.Fuzz(func(t *testing.T, s string) {
		if csp.CheckSource(s) != nil {
			return
		}
		if strings.ContainsAny(s, " \t\r\n\f;,\"") {
			t.Fatalf("accepted %q, which holds a separator", s)
		}
		h := csp.New(map[string][]string{"script-src": {s}}, nil).Header("N")
		if n := strings.Count(h, ";"); n != base {
			t.Fatalf("accepted %q: the header has %d directives, want %d: %s", s, n+1, base+1, h)
		}
	})
}
