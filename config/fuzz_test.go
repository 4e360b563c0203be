package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics and returns exactly one of a Site
// and an error, the error being a List of *Error. Parse recovers from panics
// as a last resort; the fuzzer treats a recovered one as a failure too.
func FuzzParse(f *testing.F) {
	reg := testRegistry(spec("top", nil, "mid"), spec("mid", nil, "nav"))
	f.Fuzz(func(t *testing.T, data []byte) {
		site, err := Parse("site.yaml", data, reg)
		if (site == nil) == (err == nil) {
			t.Fatalf("Parse returned site %v and error %v", site, err)
		}
		if err != nil {
			var list List
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T %v is not a non-empty List", err, err)
			}
			if strings.HasPrefix(list[0].Msg, "internal error") {
				t.Fatalf("Parse panicked: %v", err)
			}
		}
	})
}
