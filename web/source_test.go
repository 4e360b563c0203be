package web

import "testing"

// TestRelSource: the explorer names a fragment's file from the module's
// root however the binary was built, never by the build machine's
// absolute path.
func TestRelSource(t *testing.T) {
	for in, want := range map[string]string{
		"/work/main/fragments/article.go":                       "fragments/article.go", // go build
		"github.com/broadsheet/broadsheet/fragments/article.go": "fragments/article.go", // go build -trimpath
		"/home/dev/team/widgets/clock.go":                       "clock.go",
		"example.com/team/site/widgets/clock.go":                "clock.go",
		"":                                                      "",
	} {
		if got := relSource(in); got != want {
			t.Errorf("relSource(%q) = %q, want %q", in, got, want)
		}
	}
}
