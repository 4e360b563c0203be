package composer

import (
	"fmt"
	"html"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
)

// A fragment's HTML is normalized once, when its value is filled: a fresh
// render (Composer.render), an entry read from the Store (getStore) and a
// fallback as the configuration or the admin page sets it (NormalizeHTML). Normalized HTML closes every element it opens and
// closes nothing it did not open, so that no fragment changes the
// structure of the page around it (see htmlnorm). It costs a scan of the
// HTML — and nothing else for HTML already in form, which is what templ
// renders — and the same scan finds the include tags, so the value is
// parsed from it.

// normalize returns a fragment's HTML normalized, with the spans of its
// include tags, counting the values it had to change.
func (c *Composer) normalize(html []byte) ([]byte, []htmlnorm.Span, error) {
	r, err := htmlnorm.Normalize(html)
	if err != nil {
		return nil, nil, fmt.Errorf("composer: fragment HTML: %w", err)
	}
	if r.Changed {
		c.stats.Normalized.Add(1)
	}
	return r.HTML, r.Includes, nil
}

// normalizeStored normalizes the HTML of e, just read from the Store and
// not yet shared. HTML too large to normalize, which no composer stores,
// is kept as text.
func (c *Composer) normalizeStored(e *Entry) {
	r, err := htmlnorm.Normalize(e.HTML)
	switch {
	case err != nil:
		e.HTML = []byte(html.EscapeString(string(e.HTML)))
	case r.Changed:
		e.HTML = r.HTML
	default:
		return
	}
	c.stats.Normalized.Add(1)
}

// NormalizeHTML returns html normalized as a fragment's HTML is. The
// configuration and the admin page set fallbacks through it, so that a
// fallback cannot break the page either. Include tags in it are kept as
// they are (a fallback's are not expanded); HTML too large to normalize
// (see htmlnorm.MaxRebuild) comes back escaped, as text.
func NormalizeHTML(s string) string {
	r, err := htmlnorm.Normalize([]byte(s))
	switch {
	case err != nil:
		return html.EscapeString(s)
	case !r.Changed:
		return s
	}
	return string(r.HTML)
}
