// Package broadsheet holds what the binaries share from the repository root:
// the demo site's configuration, embedded so that the composer runs with
// nothing beside it.
package broadsheet

import _ "embed"

// DefaultSite is site.yaml as it was built into the binary.
//
//go:embed site.yaml
var DefaultSite []byte
