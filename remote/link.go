package remote

import (
	"net/url"
	"strings"

	"github.com/broadsheet/broadsheet/composer"
)

// maxAssets caps the assets taken from one response.
const maxAssets = 32

// ParseLink returns the CSS and JS a fragment's response asks for in its
// Link header values (RFC 8288), in order, each once:
//
//	<https://cdn.example/score.css>; rel=stylesheet
//	<https://cdn.example/score.js>; rel="fragment-script"    (Tailor)
//	</static/score.js>; rel=preload; as=script
//	</static/score.css>; rel=preload; as=style
//
// Links with other relations (canonical, preconnect, …) are ignored.
// Because the page tells stylesheets from scripts by the ".css" extension
// of the URL's path, a stylesheet link whose path does not end in ".css",
// or a script link whose path does, is dropped rather than misplaced.
//
// URLs are resolved against base, the URL the fragment was fetched from,
// with one exception: a site-relative path ("/static/x.css") is kept as it
// is, so that it is loaded from the page's own origin. That is what lets a
// fragment moved into its own service keep pointing at the site's static
// files, and what a local fragment's declared assets look like when
// cmd/fragmentd serves them. A path-relative ("x.css") or scheme-relative
// ("//cdn/x.css") reference is resolved against base. Anything that is
// not then a valid asset (composer.ValidAsset) is dropped.
func ParseLink(values []string, base *url.URL) []string {
	var out []string
	for _, v := range values {
		for _, l := range parseLinks(v) {
			if len(out) >= maxAssets {
				return out
			}
			css, ok := l.kind()
			if !ok {
				continue
			}
			u := resolve(l.target, base)
			if u == "" || !composer.ValidAsset(u) || cssPath(u) != css {
				continue
			}
			dup := false
			for _, o := range out {
				dup = dup || o == u
			}
			if !dup {
				out = append(out, u)
			}
		}
	}
	return out
}

type link struct {
	target string
	rel    []string // lower case
	as     string   // lower case
}

// kind says whether l names a stylesheet (css) or a script, and whether it
// names an asset at all.
func (l *link) kind() (css, ok bool) {
	for _, r := range l.rel {
		switch r {
		case "stylesheet":
			return true, true
		case "fragment-script", "script":
			return false, true
		case "preload", "modulepreload":
			switch {
			case l.as == "style":
				return true, true
			case l.as == "script" || r == "modulepreload":
				return false, true
			}
		}
	}
	return false, false
}

func resolve(target string, base *url.URL) string {
	if strings.HasPrefix(target, "/") && !strings.HasPrefix(target, "//") {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	if !u.IsAbs() {
		if base == nil {
			return ""
		}
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.User != nil {
		return ""
	}
	u.Fragment = ""
	return u.String()
}

func cssPath(u string) bool {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return strings.HasSuffix(u, ".css")
}

// parseLinks parses one Link header value: comma-separated links, each a
// <target> followed by ;-separated params. A malformed link is skipped up
// to the next comma outside quotes and angle brackets.
func parseLinks(s string) []link {
	var out []link
	i := 0
	for i < len(s) && len(out) < 4*maxAssets {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] != '<' {
			i = skipLink(s, i)
			continue
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			break
		}
		l := link{target: strings.TrimSpace(s[i+1 : i+end])}
		i += end + 1
		ok := true
		for ok {
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
			if i >= len(s) || s[i] == ',' {
				break
			}
			if s[i] != ';' {
				ok = false
				break
			}
			i++
			var name, val string
			name, val, i = param(s, i)
			switch name {
			case "rel":
				if l.rel == nil { // only the first rel counts (RFC 8288 §3.3)
					l.rel = strings.Fields(strings.ToLower(val))
					if l.rel == nil {
						l.rel = []string{}
					}
				}
			case "as":
				if l.as == "" {
					l.as = strings.ToLower(val)
				}
			}
		}
		if !ok {
			i = skipLink(s, i)
			continue
		}
		out = append(out, l)
	}
	return out
}

// param reads one link-param at s[i:]: token [ "=" ( token / quoted-string ) ].
func param(s string, i int) (name, val string, next int) {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	start := i
	for i < len(s) && s[i] != '=' && s[i] != ';' && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	name = strings.ToLower(s[start:i])
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) || s[i] != '=' {
		return name, "", i
	}
	i++
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		i++
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
			i++
		}
		if i < len(s) {
			i++ // closing quote
		}
		return name, b.String(), i
	}
	start = i
	for i < len(s) && s[i] != ';' && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	return name, s[start:i], i
}

// skipLink returns the index of the next comma outside quotes and angle
// brackets at or after i, or len(s).
func skipLink(s string, i int) int {
	quoted, angled := false, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"' && !angled:
			quoted = !quoted
		case c == '<' && !quoted:
			angled = true
		case c == '>' && !quoted:
			angled = false
		case c == ',' && !quoted && !angled:
			return i
		}
	}
	return len(s)
}
