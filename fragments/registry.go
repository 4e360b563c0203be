// Package fragments holds Broadsheet's fragment functions, one file each, and
// the small registry they join from init.
//
// To add a fragment, add one file here with its function and an init that
// calls register with its Spec (params, defaults, fallback). Nothing else is
// edited: the fragment is listed in the explorer and usable from any page.
package fragments

import (
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/broadsheet/broadsheet/composer"
)

var (
	mu       sync.Mutex
	registry = map[string]*composer.Spec{}
)

// register adds a fragment. It panics on an invalid Spec or a duplicate name,
// so that a mistake fails at start, not on a request.
func register(s composer.Spec) {
	if err := composer.ValidateSpec(&s); err != nil {
		panic(fmt.Sprintf("fragments: %v", err))
	}
	if s.Source == "" {
		if _, file, _, ok := runtime.Caller(1); ok {
			s.Source = file
		}
	}
	if s.Version == "" {
		s.Version = "1"
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic("fragments: register called twice for " + s.Name)
	}
	registry[s.Name] = &s
}

// All returns every registered fragment, sorted by name. The Specs are
// shared: callers must not modify them.
func All() []*composer.Spec {
	mu.Lock()
	defer mu.Unlock()
	out := make([]*composer.Spec, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
