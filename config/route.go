package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// reserved are the path roots the server keeps for itself.
var reserved = []string{"/_", "/static", "/healthz", "/readyz", "/metrics"}

// parseRoute checks a chi route pattern the way chi's router reads it, so
// that a pattern chi would panic on is refused here, at load. It returns the
// pattern's placeholder names and its shape: the pattern with placeholder
// names removed, which is equal for two patterns chi would route alike.
func parseRoute(pattern string) (keys []string, shape string, err error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, "", errors.New("must start with /")
	}
	for _, r := range reserved {
		if pattern == r || strings.HasPrefix(pattern, r+"/") {
			return nil, "", fmt.Errorf("%s/ is reserved for the server", r)
		}
	}
	var b strings.Builder
	rest := pattern
	for rest != "" {
		ps, ws := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '*')
		if ps < 0 && ws < 0 {
			ps = len(rest)
		} else if ws >= 0 && (ps < 0 || ws < ps) {
			if ws != len(rest)-1 {
				return nil, "", errors.New("the wildcard * must come last; use a {placeholder} instead")
			}
			ps = ws
		}
		static := rest[:ps]
		if i := strings.IndexFunc(static, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '}' }); i >= 0 {
			return nil, "", fmt.Errorf("must not contain %q", static[i])
		}
		b.WriteString(static)
		rest = rest[ps:]
		if rest == "" || rest == "*" {
			b.WriteString(rest)
			break
		}
		depth, pe := 0, -1
		for i := 0; i < len(rest) && pe < 0; i++ {
			switch rest[i] {
			case '{':
				depth++
			case '}':
				if depth--; depth == 0 {
					pe = i
				}
			}
		}
		if pe < 0 {
			return nil, "", errors.New("a placeholder is missing its closing }")
		}
		key, rex, isRegexp := strings.Cut(rest[1:pe], ":")
		switch {
		case !placeholderName.MatchString(key):
			return nil, "", fmt.Errorf("placeholder {%s}: want a name of letters, digits, '-' or '_'", key)
		case slices.Contains(keys, key):
			return nil, "", fmt.Errorf("placeholder {%s} appears twice", key)
		case isRegexp && rex == "":
			return nil, "", fmt.Errorf("placeholder {%s}: empty regexp", key)
		}
		if isRegexp {
			// chi anchors the regexp the same way.
			anchored := rex
			if anchored[0] != '^' {
				anchored = "^" + anchored
			}
			if anchored[len(anchored)-1] != '$' {
				anchored += "$"
			}
			if _, err := regexp.Compile(anchored); err != nil {
				return nil, "", fmt.Errorf("placeholder {%s}: invalid regexp: %v", key, err)
			}
			b.WriteString("{:" + rex + "}")
		} else {
			b.WriteString("{}")
		}
		keys = append(keys, key)
		rest = rest[pe+1:]
	}
	return keys, b.String(), nil
}

var (
	placeholderName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	queryName       = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	identifier      = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	// binding is a value taken from the request rather than a literal.
	binding = regexp.MustCompile(`^\{(route|query)\.([^{}]*)\}$`)
	// looksBound catches {city} and {routes.city}: meant as bindings, not
	// literals.
	looksBound = regexp.MustCompile(`^\{[A-Za-z0-9_.:-]*\}$`)
)
