package remote

import (
	"bytes"
	"sync"

	"github.com/microcosm-cc/bluemonday"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
)

// policy is the allowlist of a fragment declared sanitize: true:
// bluemonday's policy for user-generated content (text, headings, lists,
// tables, links and images over http, https and mailto, no forms, no
// embedded content), with what a page's own fragments need to look like
// the rest of the page — class and data-* attributes, ARIA labels and
// roles, header, footer, nav and main — and links left as they are
// (bluemonday's adds rel="nofollow", for comments rather than a site's own
// services). Everything else is dropped: <script> and <style> with their
// content, every event-handler attribute, javascript: and any other URL
// scheme. A Policy is safe for concurrent use once built.
var policy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowStyling()
	p.AllowDataAttributes()
	p.AllowAttrs("role", "aria-label", "aria-labelledby", "aria-describedby", "aria-hidden",
		"aria-live", "aria-current", "aria-expanded", "aria-controls").Globally()
	p.AllowElements("header", "footer", "nav", "main")
	p.RequireNoFollowOnLinks(false)
	return p
})

// sanitize returns body with what the policy does not allow removed. The
// include tags in its markup are kept as they are when the fragment
// declares includes (they never reach a browser: the composer replaces
// them), and dropped when it does not. The result is normalized by the
// composer like any fragment's HTML.
func sanitize(body []byte, includes bool) []byte {
	p := policy()
	if !includes {
		return p.SanitizeBytes(body)
	}
	spans := htmlnorm.Includes(body)
	if len(spans) == 0 {
		return p.SanitizeBytes(body)
	}
	// The tags are in markup, between tags: the runs between them are
	// sanitized each as a whole.
	var b bytes.Buffer
	b.Grow(len(body))
	from := 0
	for _, sp := range spans {
		b.Write(p.SanitizeBytes(body[from:sp.Start]))
		b.Write(body[sp.Start:sp.End])
		from = sp.End
	}
	b.Write(p.SanitizeBytes(body[from:]))
	return b.Bytes()
}
