// Package static holds the site's stylesheet and icons, embedded in the
// binary so that the composer needs no files beside it, and serves them
// under /static/ the way a CDN and a browser can keep them:
//
//   - Each file has a fingerprinted name holding a hash of its content,
//     site.css as /static/site.3f9a1c2b.css (Path). Layouts name files
//     through Path only, so a page always points at the content of the
//     binary that rendered it. A fingerprinted name is served with
//     Cache-Control: public, max-age=31536000, immutable: a new version
//     has a new name.
//   - The plain name (/static/site.css), and a fingerprinted name whose
//     hash is not the current one (a page of another version during a
//     rolling deploy), serve the current content with Cache-Control:
//     no-cache and an ETag, so that they are revalidated (304) rather
//     than kept.
//   - Compressed forms (br, gzip) are made once, at the first use of
//     the package's files, and chosen by Accept-Encoding (Vary:
//     Accept-Encoding); a form no smaller than the file is not kept.
package static

import "embed"

// FS holds the static files, served under /static/ by Handler.
//
//go:embed *.css *.svg
var FS embed.FS
