package remote

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// maxAge caps every lifetime read from a response: a fragment that asks to
// be cached for a century is cached for a year.
const maxAge = composer.MaxOwnLifetime

// Freshness is what a response's caching headers (Cache-Control, Age,
// Expires, Set-Cookie, Vary) say about how long its body may be served.
type Freshness struct {
	// Known reports that the headers set a lifetime: max-age, s-maxage or
	// Expires, or something that forbids caching (no-store, no-cache,
	// private, Set-Cookie, Vary: *). Without it the fragment's configured
	// times apply.
	Known bool
	Fresh time.Duration
	// Stale is the longer of stale-while-revalidate and stale-if-error:
	// the composer serves a stale entry in both cases (while a refresh
	// runs, and when that refresh fails).
	Stale time.Duration
}

// CacheHeaders are the headers of a response that say whether, and for
// how long, a shared cache may keep it.
type CacheHeaders struct {
	CacheControl []string // every Cache-Control value
	Age          string
	Expires      string
	Date         string
	Vary         []string // every Vary value
	SetCookie    bool     // the response sets a cookie
}

// cacheHeaders returns the CacheHeaders of h.
func cacheHeaders(h http.Header) CacheHeaders {
	return CacheHeaders{CacheControl: h.Values("Cache-Control"), Age: h.Get("Age"), Expires: h.Get("Expires"), Date: h.Get("Date"),
		Vary: h.Values("Vary"), SetCookie: len(h.Values("Set-Cookie")) > 0}
}

// ParseFreshness reads h, the headers of a response received at now, the
// way a shared cache does (RFC 9111):
//
//   - no-store, no-cache or private make the response uncacheable (Known,
//     zero Fresh and Stale); so do a Set-Cookie and Vary: *, as in
//     Varnish's default: the composer sends no cookie and varies its
//     requests on nothing, so a response that sets a cookie or varies on
//     everything is not one for every reader. (The cookie itself is never
//     kept nor passed on.)
//   - s-maxage wins over max-age, and either over Expires, whose lifetime
//     counts from the response's Date (from now without a valid one).
//     An invalid max-age or s-maxage (negative, not a number, empty) or
//     Expires (not a date, "0") makes the response stale at once, as RFC
//     9111 encourages: never fresher than the service meant.
//   - Age is taken off the fresh time.
//   - Stale is the longer of stale-while-revalidate and stale-if-error.
//
// Every lifetime is capped at a year (maxAge). Unknown directives and
// malformed stale times are ignored; a directive given twice counts once,
// the first time. Without max-age, s-maxage or Expires the freshness is
// not Known. It never fails.
func ParseFreshness(h CacheHeaders, now time.Time) Freshness {
	var (
		maxAgeV, sMaxAge = time.Duration(-1), time.Duration(-1)
		swr, sie         time.Duration
		seenSWR, seenSIE bool
		noStore          = h.SetCookie || varyAll(h.Vary)
	)
	for _, line := range h.CacheControl {
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
				if maxAgeV < 0 {
					maxAgeV = secondsOrStale(val)
				}
			case "s-maxage":
				if sMaxAge < 0 {
					sMaxAge = secondsOrStale(val)
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
	if fresh < 0 && strings.TrimSpace(h.Expires) != "" {
		fresh = expiresIn(h.Expires, h.Date, now)
	}
	if fresh < 0 {
		return Freshness{}
	}
	if a, ok := seconds(strings.TrimSpace(h.Age)); ok {
		fresh = max(0, fresh-a)
	}
	return Freshness{Known: true, Fresh: fresh, Stale: max(swr, sie)}
}

// secondsOrStale parses a max-age or s-maxage value: an invalid one is
// zero, stale at once.
func secondsOrStale(s string) time.Duration {
	d, _ := seconds(s)
	return d
}

// expiresIn is the lifetime an Expires value gives a response whose Date
// is date, received at now: from Date (or now, without a valid Date) to
// Expires, at least zero (an invalid Expires is in the past), at most
// maxAge.
func expiresIn(expires, date string, now time.Time) time.Duration {
	exp, err := http.ParseTime(strings.TrimSpace(expires))
	if err != nil {
		return 0
	}
	from, err := http.ParseTime(strings.TrimSpace(date))
	if err != nil {
		from = now
	}
	d := exp.Sub(from) // saturates, never wraps
	return min(max(d, 0), maxAge)
}

// varyAll reports whether Vary values name "*": the response varies on
// what no request header says.
func varyAll(vary []string) bool {
	for _, v := range vary {
		for f := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(f) == "*" {
				return true
			}
		}
	}
	return false
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
