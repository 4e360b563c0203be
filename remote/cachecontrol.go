package remote

import (
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// maxAge caps every lifetime read from a response: a fragment that asks to
// be cached for a century is cached for a year.
const maxAge = composer.MaxOwnLifetime

// Freshness is what a response's Cache-Control (and Age) headers say about
// how long its body may be served.
type Freshness struct {
	// Known reports that the headers set a lifetime: max-age or s-maxage,
	// or a directive that forbids caching (no-store, no-cache, private).
	// Without it the fragment's configured times apply.
	Known bool
	Fresh time.Duration
	// Stale is the longer of stale-while-revalidate and stale-if-error:
	// the composer serves a stale entry in both cases (while a refresh
	// runs, and when that refresh fails).
	Stale time.Duration
}

// ParseCacheControl reads the Cache-Control header values cc and the Age
// header age the way a shared cache does (RFC 9111): s-maxage wins over
// max-age, Age is taken off the fresh time, and no-store, no-cache or
// private make the response uncacheable (Known, zero Fresh and Stale).
// Unknown directives and malformed values are ignored; a directive given
// twice counts once, the first time. It never fails.
func ParseCacheControl(cc []string, age string) Freshness {
	var (
		f                Freshness
		maxAgeV, sMaxAge = time.Duration(-1), time.Duration(-1)
		swr, sie         time.Duration
		seenSWR, seenSIE bool
		noStore          bool
	)
	for _, line := range cc {
		for rest, more := line, true; more; {
			var d string
			d, rest, more = cutOutsideQuotes(rest, ',')
			name, val, hasVal := strings.Cut(strings.TrimSpace(d), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch name {
			case "no-store", "no-cache", "private":
				// no-cache="field" only restricts the named fields.
				if !hasVal || name == "no-store" {
					noStore = true
				}
			case "max-age":
				if d, ok := seconds(val); ok && maxAgeV < 0 {
					maxAgeV = d
				}
			case "s-maxage":
				if d, ok := seconds(val); ok && sMaxAge < 0 {
					sMaxAge = d
				}
			case "stale-while-revalidate":
				if d, ok := seconds(val); ok && !seenSWR {
					swr, seenSWR = d, true
				}
			case "stale-if-error":
				if d, ok := seconds(val); ok && !seenSIE {
					sie, seenSIE = d, true
				}
			}
		}
	}
	if noStore {
		return Freshness{Known: true}
	}
	fresh := sMaxAge
	if fresh < 0 {
		fresh = maxAgeV
	}
	if fresh < 0 {
		return f
	}
	if a, ok := seconds(strings.TrimSpace(age)); ok {
		fresh = max(0, fresh-a)
	}
	return Freshness{Known: true, Fresh: fresh, Stale: max(swr, sie)}
}

// seconds parses a delta-seconds value, capped at maxAge.
func seconds(s string) (time.Duration, bool) {
	if s == "" || len(s) > 19 {
		if len(s) > 19 && strings.Trim(s, "0123456789") == "" {
			return maxAge, true
		}
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, false
	}
	if n > uint64(maxAge/time.Second) {
		return maxAge, true
	}
	return time.Duration(n) * time.Second, true
}

// cutOutsideQuotes cuts s at the first sep outside double-quoted strings
// (where a backslash escapes the next byte): what is before it, what is
// after it, and whether there was one. It allocates nothing, unlike a
// split: Cache-Control is read on every response.
func cutOutsideQuotes(s string, sep byte) (before, after string, found bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
