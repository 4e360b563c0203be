// Package csp builds the Content-Security-Policy header of the site's
// responses: Broadsheet's own needs, the sources the configuration adds
// (site.csp in site.yaml) and the origins its fragments' assets come from.
// It also checks source expressions against the grammar of CSP Level 3,
// so that a value from the configuration can neither be ignored by a
// browser nor add a directive of its own.
package csp

import (
	"errors"
	"fmt"
	"strings"
)

// keywords are the keyword-sources of CSP Level 3 (§2.3.1), in lower
// case: browsers compare them without regard to case.
var keywords = []string{
	"'self'", "'unsafe-inline'", "'unsafe-eval'", "'strict-dynamic'", "'unsafe-hashes'",
	"'report-sample'", "'unsafe-allow-redirects'", "'wasm-unsafe-eval'", "'none'",
}

// maxSource bounds one source expression: a header line is not the place
// for a long URL.
const maxSource = 512

// ErrNone is returned by CheckSource for 'none', which is a source list of
// its own and cannot stand beside another source.
var ErrNone = errors.New("csp: 'none' allows nothing and cannot be combined with other sources")

// CheckSource reports whether s is one source expression of CSP Level 3
// (§2.3.1 of the W3C recommendation):
//
//	scheme-source   https:  data:  blob:
//	host-source     cdn.example  *.cdn.example  https://cdn.example:8443/assets/  *
//	keyword-source  'self'  'unsafe-inline'  'strict-dynamic'  'none' …
//	nonce-source    'nonce-R4nd0m'
//	hash-source     'sha256-…'  'sha384-…'  'sha512-…'
//
// 'none' is valid but answered with ErrNone, since it cannot be combined
// with other sources. A path may not hold ';' or ',' (they separate
// directives and policies in the header), nor a quote or white space. The
// error names what is wrong; CheckSource never panics.
func CheckSource(s string) error {
	switch {
	case s == "":
		return errors.New("csp: empty source")
	case len(s) > maxSource:
		return fmt.Errorf("csp: source is %d bytes, over the maximum of %d", len(s), maxSource)
	}
	if s[0] == '\'' {
		return checkQuoted(s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ';' || c == ',' || c == '\'' || c == '"' {
			return fmt.Errorf("csp: source %q: %q is not allowed in a source expression", s, c)
		}
	}
	if i := strings.IndexByte(s, ':'); i > 0 && i == len(s)-1 {
		if !isScheme(s[:i]) {
			return fmt.Errorf("csp: source %q: invalid scheme", s)
		}
		return nil // scheme-source
	}
	return checkHost(s)
}

// checkQuoted checks a keyword, nonce or hash source.
func checkQuoted(s string) error {
	if len(s) < 3 || s[len(s)-1] != '\'' {
		return fmt.Errorf("csp: source %q: a quoted source must end with a quote", s)
	}
	l := strings.ToLower(s)
	for _, k := range keywords {
		if l == k {
			if k == "'none'" {
				return ErrNone
			}
			return nil
		}
	}
	inner := s[1 : len(s)-1]
	alg, val, ok := strings.Cut(inner, "-")
	switch a := strings.ToLower(alg); {
	case !ok:
		return fmt.Errorf("csp: source %q: unknown keyword", s)
	case a != "nonce" && a != "sha256" && a != "sha384" && a != "sha512":
		return fmt.Errorf("csp: source %q: unknown keyword, or not a nonce or hash (sha256, sha384, sha512)", s)
	case !isBase64(val):
		return fmt.Errorf("csp: source %q: the value after %q is not base64", s, alg+"-")
	}
	return nil
}

// checkHost checks a host-source: [scheme "://"] host [":" port] [path].
func checkHost(s string) error {
	rest := s
	if i := strings.Index(rest, "://"); i >= 0 {
		if !isScheme(rest[:i]) {
			return fmt.Errorf("csp: source %q: invalid scheme", s)
		}
		rest = rest[i+3:]
	}
	end := strings.IndexAny(rest, ":/")
	if end < 0 {
		end = len(rest)
	}
	if err := checkHostPart(rest[:end]); err != nil {
		return fmt.Errorf("csp: source %q: %w", s, err)
	}
	rest = rest[end:]
	if strings.HasPrefix(rest, ":") {
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		if port := rest[1:end]; port != "*" && (port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "") {
			return fmt.Errorf("csp: source %q: invalid port %q", s, port)
		}
		rest = rest[end:]
	}
	if rest != "" {
		if strings.HasPrefix(rest, "//") {
			return fmt.Errorf("csp: source %q: a path cannot start with //", s)
		}
		if err := checkPath(rest); err != nil {
			return fmt.Errorf("csp: source %q: %w", s, err)
		}
	}
	return nil
}

// checkHostPart checks host-part: "*" / [ "*." ] 1*host-char *( "." 1*host-char ) [ "." ].
func checkHostPart(h string) error {
	if h == "*" {
		return nil
	}
	h = strings.TrimPrefix(h, "*.")
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return errors.New("no host")
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return fmt.Errorf("invalid host %q: empty label", h)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' {
				return fmt.Errorf("invalid host %q: %q is not a letter, digit or '-'", h, c)
			}
		}
	}
	return nil
}

// checkPath checks path-absolute: "/" then pchars (RFC 3986), where a
// percent sign starts an escape.
func checkPath(p string) error {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return fmt.Errorf("invalid escape in path %q", p)
			}
			i += 2
		case isAlnum(c) || strings.IndexByte("/-._~!$&()*+=:@", c) >= 0:
		default:
			return fmt.Errorf("%q is not allowed in a path", c)
		}
	}
	return nil
}

// isScheme reports whether s is an RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func isScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isBase64 reports whether s is a base64-value: 1*( ALPHA / DIGIT / "+" / "/" / "-" / "_" ) *2"=".
func isBase64(s string) bool {
	t := strings.TrimRight(s, "=")
	if t == "" || len(s)-len(t) > 2 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isAlnum(c) && c != '+' && c != '/' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
func isHex(c byte) bool   { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }
