package remote

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/broadsheet/broadsheet/composer"
)

// Template is a fragment service's URL with param placeholders:
//
//	http://127.0.0.1:9101/fragments/score?match={match}
//
// A placeholder stands for the value of the named param, escaped for where
// it stands: in the path with url.PathEscape (so a value can never add a
// path segment, and "." and ".." are escaped too), in the query with
// url.QueryEscape (so a value can never add a query param). Placeholders
// may not appear in the scheme or the host, and the URL has no #fragment. Scheme and host
// come from the configuration only: no value can change them.
type Template struct {
	raw        string
	parts      []part
	pathParams bool // some placeholder stands in the path
}

type part struct {
	lit   string
	param string // "" for a literal
	query bool   // the placeholder stands in the query
}

// ParseTemplate checks raw, which must be an absolute http or https URL
// with a host, whose every {placeholder} must be one of declared, and
// which must place every declared param.
func ParseTemplate(raw string, declared []composer.ParamSpec) (*Template, error) {
	t := &Template{raw: raw}
	probe, err := t.split(declared)
	if err != nil {
		return nil, err
	}
	if err := checkProbe(raw, probe); err != nil {
		return nil, err
	}
	for _, p := range declared {
		used := false
		for _, pt := range t.parts {
			used = used || pt.param == p.Name
		}
		if !used {
			// It would reach the cache key but never the service.
			return nil, fmt.Errorf("remote: url %q: declared param %q has no {%s} placeholder", raw, p.Name, p.Name)
		}
	}
	return t, nil
}

// split cuts t's URL into its parts: literals, and placeholders of
// declared params standing in the path or the query. It returns the probe
// URL, the template with an x for each placeholder, for checking the
// whole.
func (t *Template) split(declared []composer.ParamSpec) (string, error) {
	raw := t.raw
	var probe strings.Builder
	query := false
	rest := raw
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, part{lit: rest})
			probe.WriteString(rest)
			break
		}
		if rest[i] == '}' {
			return "", fmt.Errorf("remote: url %q: unexpected }", raw)
		}
		lit := rest[:i]
		query = query || strings.Contains(lit, "?")
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("remote: url %q: { without its closing }", raw)
		}
		name := rest[i+1 : i+j]
		ok := false
		for _, p := range declared {
			ok = ok || p.Name == name
		}
		if !ok {
			return "", fmt.Errorf("remote: url %q: placeholder {%s} is not a declared param", raw, name)
		}
		if lit != "" {
			t.parts = append(t.parts, part{lit: lit})
		}
		probe.WriteString(lit)
		if !query && !inPath(probe.String()) {
			return "", fmt.Errorf("remote: url %q: placeholder {%s} must stand in the path or the query, not the scheme or host", raw, name)
		}
		t.parts = append(t.parts, part{param: name, query: query})
		t.pathParams = t.pathParams || !query
		probe.WriteString("x")
		rest = rest[i+j+1:]
	}
	return probe.String(), nil
}

// checkProbe checks the probe URL of template raw (see split): an
// absolute http or https URL with a host, without credentials, a
// #fragment or a . or .. path segment.
func checkProbe(raw, probe string) error {
	u, err := url.Parse(probe)
	switch {
	case err != nil:
		return fmt.Errorf("remote: url %q: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("remote: url %q: want an absolute http:// or https:// URL", raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("remote: url %q: want a host", raw)
	case u.User != nil:
		return fmt.Errorf("remote: url %q: credentials in the URL are not allowed", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("remote: url %q: a #fragment is never sent; remove it", raw)
	case dotSegment(probe):
		return fmt.Errorf("remote: url %q: the path has a . or .. segment", raw)
	}
	return nil
}

// inPath reports whether the URL prefix s ends inside the path: past
// "scheme://host" and its first "/".
func inPath(s string) bool {
	i := strings.Index(s, "://")
	if i < 0 {
		return false
	}
	return strings.Contains(s[i+3:], "/")
}

// scheme returns the template's scheme ("http" or "https").
func (t *Template) scheme() string { return strings.ToLower(t.raw[:strings.Index(t.raw, ":")]) }

// String returns the template as configured.
func (t *Template) String() string { return t.raw }

// errDotSegment refuses a URL whose path would hold a "." or ".." segment.
var errDotSegment = errors.New("remote: param values make a . or .. path segment")

// Expand returns the URL for params p. Absent params expand to "". It
// fails only when values would make a "." or ".." path segment, which a
// server would resolve away.
func (t *Template) Expand(p composer.Params) (string, error) {
	var b strings.Builder
	b.Grow(len(t.raw) + 16)
	for _, pt := range t.parts {
		switch {
		case pt.param == "":
			b.WriteString(pt.lit)
		case pt.query:
			b.WriteString(url.QueryEscape(p.Get(pt.param)))
		default:
			b.WriteString(url.PathEscape(p.Get(pt.param)))
		}
	}
	s := b.String()
	if t.pathParams && dotSegment(s) {
		return "", errDotSegment
	}
	return s, nil
}

// dotSegment reports whether the path of URL s has a segment that is, once
// unescaped, "." or "..".
func dotSegment(s string) bool {
	s = s[strings.Index(s, "://")+3:]
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return false
	}
	s = s[i:]
	if j := strings.IndexAny(s, "?#"); j >= 0 {
		s = s[:j]
	}
	for _, seg := range strings.Split(s, "/") {
		if strings.Contains(seg, ".") {
			if u, err := url.PathUnescape(seg); err != nil || u == "." || u == ".." {
				return true
			}
		}
	}
	return false
}
