package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/broadsheet/broadsheet/composer"
)

func TestIncludeGraph(t *testing.T) {
	// A page including "top" of a chain top → mid → leaf.
	chain := []*composer.Spec{spec("top", nil, "mid"), spec("mid", nil, "leaf"), spec("leaf", nil)}
	const pageTop = "pages:\n  - name: p\n    path: /\n    layout: front\n    includes:\n      - {fragment: top, slot: a}\n"
	tests := []struct {
		name  string
		extra []*composer.Spec
		yaml  string
		line  int
		field string
		msg   string
	}{
		{"cycle", []*composer.Spec{spec("a", nil, "b"), spec("b", nil, "a")}, "pages: []\n",
			0, "fragments", "include cycle a → b → a"},
		{"self cycle", []*composer.Spec{spec("a", nil, "a")}, "pages: []\n",
			0, "fragments", "include cycle a → a"},
		{"long cycle", []*composer.Spec{spec("a", nil, "b"), spec("b", nil, "c"), spec("c", nil, "b")}, "pages: []\n",
			0, "fragments", "include cycle b → c → b"},
		{"unknown nested", []*composer.Spec{spec("a", nil, "ghost")}, "pages: []\n",
			0, "fragments", `fragment "a" includes unknown fragment "ghost"`},
		{"too deep", chain, "site: {max_depth: 2}\n" + pageTop,
			7, "pages[0].includes[0].fragment", "include chain top → mid → leaf is 3 deep, over max_depth 2"},
		{"too many includes", nil, "site: {max_includes: 2}\npages:\n  - name: p\n    path: /\n    layout: front\n    includes:\n" +
			strings.Repeat("      - {fragment: nav, slot: a}\n", 3),
			7, "pages[0].includes", "page has 3 includes, over max_includes 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("site.yaml", []byte(tt.yaml), testRegistry(tt.extra...))
			var list List
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want exactly one error, got:\n%v", err)
			}
			e := list[0]
			if e.Line != tt.line || e.Field != tt.field || e.Msg != tt.msg {
				t.Errorf("got  %s\nwant line %d, field %q, message %q", e, tt.line, tt.field, tt.msg)
			}
		})
	}
}

func TestIncludeGraphWithinLimits(t *testing.T) {
	reg := testRegistry(spec("top", nil, "mid"), spec("mid", nil, "leaf"), spec("leaf", nil))
	src := "site: {max_depth: 3, max_includes: 2}\npages:\n  - name: p\n    path: /\n    layout: front\n    includes:\n" +
		"      - {fragment: top, slot: a}\n      - {fragment: top, slot: b}\n"
	if _, err := Parse("site.yaml", []byte(src), reg); err != nil {
		t.Fatal(err)
	}
}

// TestIncludeGraphCycleNotDepth checks that a page including a fragment
// that reaches a cycle gets the cycle error only, not a depth error as well.
func TestIncludeGraphCycleNotDepth(t *testing.T) {
	reg := testRegistry(spec("a", nil, "b"), spec("b", nil, "a"))
	src := "pages:\n  - {name: p, path: /, layout: front, includes: [{fragment: a, slot: x}]}\n"
	_, err := Parse("site.yaml", []byte(src), reg)
	var list List
	if !errors.As(err, &list) || len(list) != 1 || list[0].Error() != "site.yaml: fragments: include cycle a → b → a" {
		t.Fatalf("got:\n%v", err)
	}
}
