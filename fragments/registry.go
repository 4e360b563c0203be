// Package fragments holds Broadsheet's fragment functions, one file each, and
// the small registry they join from init.
//
// To add a fragment, add one file here with its function and an init that
// calls register with its Spec (params, defaults, fallback). Nothing else is
// edited: the fragment is listed in the explorer and usable from any page.
package fragments

import "github.com/broadsheet/broadsheet/composer"

// registry holds the demo's fragments.
var registry composer.Registry

// register adds a fragment (composer.Registry.Register): it panics on an
// invalid Spec or a duplicate name, so that a mistake fails at start, not
// on a request.
func register(s composer.Spec) { registry.Register(s) }

// All returns every registered fragment, sorted by name. The Specs are
// shared: callers must not modify them.
func All() []*composer.Spec { return registry.All() }
