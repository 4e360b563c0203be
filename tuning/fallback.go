package tuning

import (
	"errors"
	"regexp"
)

// checkFallback refuses a live fallback that holds what no fallback
// needs and an attacker would: script and other active elements, event
// handler attributes, script URLs, include tags. A fallback reaches
// every page that falls back to it, unescaped, and an override can come
// from anyone who can write to Redis.
//
// A fallback that passes is then normalized as fragment HTML is
// (composer.NormalizeHTML, when the override is applied): this check
// refuses what normalizing would keep — markup that is balanced but
// active.
func checkFallback(html string) error {
	if activeHTML.MatchString(html) {
		return errActiveFallback
	}
	return nil
}

var errActiveFallback = errors.New("holds a script, an active element, an event handler or an include")

// activeHTML finds, case-insensitively: the opening of a script, style,
// iframe, frame, object, embed, base, meta, link, form, svg, math or
// template element, or of an include; an on… attribute; a javascript:,
// vbscript: or data: URL in an attribute.
var activeHTML = regexp.MustCompile(`(?i)<\s*/?\s*(?:script|style|iframe|frame|frameset|object|embed|base|meta|link|form|svg|math|template|bs-include)\b` +
	`|[\s"'/]on[a-z]+\s*=` +
	`|(?:href|src|action|formaction|xlink:href|srcset|poster|background)\s*=\s*["']?\s*(?:javascript|vbscript|data):`)
