package composer

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"
)

// Raw is HTML a fragment returns as it is, with what it knows of its own
// freshness and assets: what a remote fragment service's response carries
// in its Cache-Control and Link headers. The HTML is trusted (it is placed
// in the page unescaped); only include tags in it are interpreted.
type Raw struct {
	HTML []byte
	// HasFreshness reports that Fresh and Stale are known (from max-age,
	// stale-while-revalidate and stale-if-error). They apply unless the
	// configuration sets the fragment's fresh or stale time itself.
	HasFreshness bool
	Fresh        time.Duration
	Stale        time.Duration
	// Assets are the CSS and JS URLs the HTML needs.
	Assets []string
}

// Render writes the HTML.
func (r *Raw) Render(_ context.Context, w io.Writer) error {
	_, err := w.Write(r.HTML)
	return err
}

// ValidAsset reports whether s may be placed in a page as an asset URL: a
// site-relative path or an http(s) URL, with nothing that could break out of
// an attribute.
func ValidAsset(s string) bool {
	if len(s) == 0 || len(s) > 2048 {
		return false
	}
	if !(strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//")) &&
		!strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == '\\' || c >= 0x7f {
			return false
		}
	}
	return true
}

// isCSS tells stylesheets from scripts by the path's extension.
func isCSS(u string) bool {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return strings.HasSuffix(u, ".css")
}

// settle applies what a Raw result knows of itself to the settings of a
// call: the fragment's configured times win over the response's.
func freshness(f *Fragment, raw *Raw) (fresh, stale time.Duration) {
	fresh, stale = f.Settings.Fresh, f.Settings.Stale
	if raw == nil || !raw.HasFreshness {
		return fresh, stale
	}
	maxFresh, maxStale := lifetimes(f)
	if codeSets(f, "fresh") {
		fresh = min(raw.Fresh, maxFresh)
	}
	if codeSets(f, "stale") {
		stale = min(raw.Stale, maxStale)
	}
	return fresh, stale
}

// codeSets reports whether a result's own lifetime may replace f's setting
// (the setting is the code's default, not the operator's).
func codeSets(f *Fragment, setting string) bool {
	o := f.Origin[setting]
	return o == "" || o == "code"
}

// mayOwnFreshness reports whether a result of f may bring a lifetime of
// its own (see freshness).
func mayOwnFreshness(f *Fragment) bool { return codeSets(f, "fresh") || codeSets(f, "stale") }

// AssetsOf merges a fragment's declared assets with a result's, keeping
// only those the fragment may place (AssetAllowed), each once (at most
// 64). The composer and the fragment server (which announces them in Link
// headers) both use it.
func AssetsOf(s *Spec, raw *Raw) []string {
	if len(s.Assets) == 0 && (raw == nil || len(raw.Assets) == 0) {
		return nil
	}
	var out []string
	add := func(list []string) {
		for _, a := range list {
			if AssetAllowed(s, a) && !slices.Contains(out, a) && len(out) < 64 {
				out = append(out, a)
			}
		}
	}
	add(s.Assets)
	if raw != nil {
		add(raw.Assets)
	}
	return out
}
