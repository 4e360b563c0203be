// Package static holds the demo site's stylesheet and scripts, embedded in
// the binary so that the composer needs no files beside it.
package static

import "embed"

// FS holds the static files, served under /static/.
//
//go:embed *.css *.svg
var FS embed.FS
