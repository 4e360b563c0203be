package config

import (
	"sort"
	"strings"

	"github.com/broadsheet/broadsheet/composer"
)

// graph is the include graph of the registered fragments: an edge for each
// name in a Spec's Includes.
type graph struct {
	// height is the length of the longest include chain that starts at a
	// fragment, the fragment itself counting 1. It is 0 for a fragment
	// that reaches a cycle or an unknown fragment: those are reported once,
	// under fragments, and its depth is not checked again for each page.
	height map[string]int
	next   map[string]string // the next fragment on that longest chain
}

// graph checks the fragments' own includes: every name must be registered
// and no chain may come back to where it started.
func (p *parser) graph(specs map[string]*composer.Spec) *graph {
	g := &graph{height: map[string]int{}, next: map[string]string{}}
	const (
		unseen = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = onStack
		stack = append(stack, name)
		h, ok := 1, true
		for _, inc := range specs[name].Includes {
			switch {
			case specs[inc] == nil:
				p.errorf(nil, "fragments", "fragment %q includes unknown fragment %q", name, inc)
				ok = false
				continue
			case state[inc] == onStack:
				i := len(stack) - 1
				for stack[i] != inc {
					i--
				}
				cycle := append(append([]string{}, stack[i:]...), inc)
				p.errorf(nil, "fragments", "include cycle %s", strings.Join(cycle, " → "))
				ok = false
				continue
			case state[inc] == unseen:
				visit(inc)
			}
			if g.height[inc] == 0 {
				ok = false
			} else if g.height[inc]+1 > h {
				h = g.height[inc] + 1
				g.next[name] = inc
			}
		}
		if ok {
			g.height[name] = h
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	names := make([]string, 0, len(specs))
	for name := range specs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if state[name] == unseen {
			visit(name)
		}
	}
	return g
}

// chain returns the longest include chain from name, like "a → b → c".
func (g *graph) chain(name string) string {
	parts := []string{name}
	for n, ok := g.next[name]; ok; n, ok = g.next[n] {
		parts = append(parts, n)
	}
	return strings.Join(parts, " → ")
}
