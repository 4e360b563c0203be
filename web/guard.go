package web

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// GuardOptions bound what a request may carry before any page sees it.
type GuardOptions struct {
	// MaxURL caps the request target in bytes (414 beyond); 0 means 4096.
	MaxURL int
	// MaxQueryParams caps the number of query values (400 beyond); 0
	// means 32.
	MaxQueryParams int
	// MaxInFlight sheds pages beyond this many at once with a quick 503
	// and Retry-After (0: no limit). Admitted pages keep their budget;
	// excess load is refused in microseconds instead of queueing until
	// every page is late.
	MaxInFlight int
}

// errorPageFunc writes a readable error page.
type errorPageFunc func(w http.ResponseWriter, r *http.Request, status int, msg string)

// guard refuses, cheaply and with a readable page, requests no page should
// see: oversized or malformed targets, path tricks, ambiguous or hostile
// query values. Everything it lets through has a valid UTF-8 path without
// dot segments and a query of at most MaxQueryParams values, each given
// once, valid UTF-8 without control characters.
func guard(o GuardOptions, fail errorPageFunc) func(http.Handler) http.Handler {
	if o.MaxURL <= 0 {
		o.MaxURL = 4096
	}
	if o.MaxQueryParams <= 0 {
		o.MaxQueryParams = 32
	}
	var inFlight atomic.Int64
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status, msg := check(r, o); status != 0 {
				fail(w, r, status, msg)
				return
			}
			if o.MaxInFlight > 0 {
				if inFlight.Add(1) > int64(o.MaxInFlight) {
					inFlight.Add(-1)
					w.Header().Set("Retry-After", "1")
					fail(w, r, http.StatusServiceUnavailable, "We are very busy right now. Please try again in a moment.")
					return
				}
				defer inFlight.Add(-1)
			}
			next.ServeHTTP(w, r)
		})
	}
}

func check(r *http.Request, o GuardOptions) (int, string) {
	if len(r.RequestURI) > o.MaxURL {
		return http.StatusRequestURITooLong, "This address is too long."
	}
	p := r.URL.Path
	if !utf8.ValidString(p) || strings.ContainsAny(p, "\x00\r\n\\") {
		return http.StatusBadRequest, "This address is not valid."
	}
	raw := strings.ToLower(r.URL.EscapedPath())
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") {
		return http.StatusBadRequest, "This address is not valid."
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return http.StatusBadRequest, "This address is not valid."
		}
	}
	if r.URL.RawQuery == "" {
		return 0, ""
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return http.StatusBadRequest, "The query of this address is not valid."
	}
	n := 0
	for k, vs := range q {
		n += len(vs)
		if n > o.MaxQueryParams {
			return http.StatusBadRequest, "This address has too many query values."
		}
		if len(vs) > 1 {
			return http.StatusBadRequest, "A query value is given more than once in this address."
		}
		if !cleanText(k) || !cleanText(vs[0]) {
			return http.StatusBadRequest, "The query of this address is not valid."
		}
	}
	return 0, ""
}

// cleanText reports whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
