package compress

import "strings"

// Coding is a content coding a page can be sent in (RFC 9110, section 8.4.1).
type Coding uint8

// The codings, Identity first. Preferred lists the compressed ones in the
// order the composer prefers them when a client accepts several equally.
const (
	Identity Coding = iota
	Gzip
	Zstd
	Brotli
	numCodings
)

// Preferred is the server's order among codings a client ranks equally.
// Measured on the demo's 2,000-include scores page (BENCHMARKS.md,
// "Compression"): gzip's kept forms are the smallest of the spliceable
// codings (deflate level 9: 0.95× gzip -6, where zstd's "better" level
// makes 1.13×) and its per-request compression of the rest the fastest;
// zstd splices too; brotli cannot be spliced (see Writer), so a composed
// page in br is compressed whole per request (tens of milliseconds for
// that page), and br is chosen only when a client ranks it above the
// others.
var Preferred = [...]Coding{Gzip, Zstd, Brotli}

var codingNames = [numCodings]string{"identity", "gzip", "zstd", "br"}

// String returns the coding's name as Content-Encoding spells it.
func (c Coding) String() string {
	if c < numCodings {
		return codingNames[c]
	}
	return "invalid"
}

// maxAcceptEncoding bounds the Accept-Encoding value looked at; a longer
// one is malformed (browsers send about 30 bytes).
const maxAcceptEncoding = 512

// Negotiate returns the coding to send for the Accept-Encoding field values
// (RFC 9110, section 12.5.3) among all the compressed codings, ties broken
// by Preferred: NegotiateAmong(values, Preferred[:]). It never allocates.
func Negotiate(values []string) Coding {
	return NegotiateAmong(values, Preferred[:])
}

// NegotiateAmong returns the coding to send for the Accept-Encoding field
// values (RFC 9110, section 12.5.3) when the response exists in the
// codings offered (Identity among them or not: it always exists): the
// offered coding the client gives the highest q-value above 0, ties broken
// by offered's order; a coding not named takes the q-value of "*" if there
// is one. "x-gzip" is gzip. Identity is returned when no field was sent,
// when it is empty, when the client ranks identity at least as high as
// every offered coding it accepts, when it accepts none of them (even if it
// refused identity: the RFC then asks for the response without a coding
// rather than an error), and when the value is malformed: an element that
// is not a token with at most one q parameter, a q-value that is not RFC
// 9110's qvalue, or a value over 512 bytes. Unknown codings are ignored.
// It never allocates and is safe for concurrent use.
func NegotiateAmong(values []string, offered []Coding) Coding {
	var q [numCodings]int // thousandths; -1: not named
	for i := range q {
		q[i] = -1
	}
	star, total := -1, 0
	for _, v := range values {
		total += len(v)
		if total > maxAcceptEncoding {
			return Identity
		}
		for len(v) > 0 {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			name, qv, ok := parseElement(elem)
			if !ok {
				return Identity
			}
			if name == "" {
				continue // empty list element (RFC 9110, section 5.6.1)
			}
			switch c, known := codingOf(name); {
			case name == "*":
				star = max(star, qv)
			case known:
				q[c] = max(q[c], qv)
			}
		}
	}
	best, bestQ := Identity, 0
	for _, c := range offered {
		if c == Identity || c >= numCodings {
			continue
		}
		cq := q[c]
		if cq < 0 {
			cq = star
		}
		if cq > bestQ {
			best, bestQ = c, cq
		}
	}
	if best != Identity && q[Identity] > bestQ {
		return Identity // the client prefers the response as it is
	}
	return best
}

// codingOf returns the coding named name (case-insensitively).
func codingOf(name string) (Coding, bool) {
	switch {
	case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
		return Gzip, true
	case strings.EqualFold(name, "zstd"):
		return Zstd, true
	case strings.EqualFold(name, "br"):
		return Brotli, true
	case strings.EqualFold(name, "identity"):
		return Identity, true
	}
	return 0, false
}

// parseElement parses one list element, `coding [OWS ";" OWS "q=" qvalue]`
// with surrounding white space, into its name and q-value in thousandths
// (1000 without a weight). An element of white space alone has an empty
// name.
func parseElement(s string) (name string, q int, ok bool) {
	s = trimOWS(s)
	name, params, hasParams := strings.Cut(s, ";")
	name = trimOWS(name)
	if !isToken(name) {
		return "", 0, name == "" && !hasParams
	}
	if !hasParams {
		return name, 1000, true
	}
	params = trimOWS(params)
	if len(params) < 2 || (params[0] != 'q' && params[0] != 'Q') || params[1] != '=' {
		return "", 0, false
	}
	q, ok = parseQ(params[2:])
	return name, q, ok
}

// parseQ parses a qvalue: "0" ["." 0*3DIGIT] or "1" ["." 0*3("0")].
func parseQ(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' {
		return 0, false
	}
	scale := 100
	for _, c := range []byte(s[2:]) {
		if c < '0' || c > '9' || (q == 1000 && c != '0') {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return q, true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// isToken reports whether s is an RFC 9110 token (section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
