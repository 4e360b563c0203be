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
		ps, err := staticEnd(rest)
		if err != nil {
			return nil, "", err
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
		pe := closingBrace(rest)
		if pe < 0 {
			return nil, "", errors.New("a placeholder is missing its closing }")
		}
		key, kshape, err := parsePlaceholder(rest[1:pe], keys)
		if err != nil {
			return nil, "", err
		}
		b.WriteString(kshape)
		keys = append(keys, key)
		rest = rest[pe+1:]
	}
	return keys, b.String(), nil
}

// staticEnd returns where the static text at the start of rest ends: at
// its first placeholder, at a wildcard * (which must end the pattern), or
// at its end.
func staticEnd(rest string) (int, error) {
	ps, ws := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '*')
	if ps < 0 && ws < 0 {
		return len(rest), nil
	}
	if ws >= 0 && (ps < 0 || ws < ps) {
		if ws != len(rest)-1 {
			return 0, errors.New("the wildcard * must come last; use a {placeholder} instead")
		}
		return ws, nil
	}
	return ps, nil
}

// closingBrace returns the index of the } that closes the placeholder
// opening rest, counting the braces of its regexp, or -1.
func closingBrace(rest string) int {
	depth := 0
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// parsePlaceholder checks the inside of a placeholder, {key} or
// {key:regexp}, whose key must not be among keys. It returns the key and
// the placeholder's shape: {} or {:regexp}.
func parsePlaceholder(inside string, keys []string) (key, shape string, err error) {
	key, rex, isRegexp := strings.Cut(inside, ":")
	switch {
	case !placeholderName.MatchString(key):
		return "", "", fmt.Errorf("placeholder {%s}: want a name of letters, digits, '-' or '_'", key)
	case slices.Contains(keys, key):
		return "", "", fmt.Errorf("placeholder {%s} appears twice", key)
	case isRegexp && rex == "":
		return "", "", fmt.Errorf("placeholder {%s}: empty regexp", key)
	}
	if !isRegexp {
		return key, "{}", nil
	}
	// chi anchors the regexp the same way.
	anchored := rex
	if anchored[0] != '^' {
		anchored = "^" + anchored
	}
	if anchored[len(anchored)-1] != '$' {
		anchored += "$"
	}
	if _, err := regexp.Compile(anchored); err != nil {
		return "", "", fmt.Errorf("placeholder {%s}: invalid regexp: %v", key, err)
	}
	return key, "{:" + rex + "}", nil
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
