package httpcache

// NoneMatch reports whether an If-None-Match field value (all its lines
// joined by commas) matches etag by RFC 9110's weak comparison (13.1.2):
// "*" matches any current representation, else a list of entity tags
// matches when one of them has etag's opaque tag, W/ or not. A malformed
// list matches nothing (the page is sent whole), and so does any list
// when etag is empty, except "*" when exists.
func NoneMatch(field, etag string, exists bool) bool {
	s := trimOWS(field)
	if s == "*" {
		return exists
	}
	if etag == "" {
		return false
	}
	want := opaque(etag)
	for s != "" {
		s = trimOWS(s)
		if s == "" {
			return false
		}
		if s[0] == ',' {
			s = s[1:]
			continue
		}
		tag, rest, ok := scanETag(s)
		if !ok {
			return false
		}
		if opaque(tag) == want {
			return true
		}
		s = trimOWS(rest)
		if s != "" && s[0] != ',' {
			return false
		}
	}
	return false
}

// scanETag reads one entity-tag ([W/] DQUOTE *etagc DQUOTE) from the
// start of s.
func scanETag(s string) (tag, rest string, ok bool) {
	start := s
	if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
		s = s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return "", "", false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			n := len(start) - len(s) + i + 1
			return start[:n], start[n:], true
		case c == 0x21 || c >= 0x23 && c <= 0x7e || c >= 0x80:
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// opaque drops an entity tag's weakness indicator.
func opaque(tag string) string {
	if len(tag) >= 2 && tag[0] == 'W' && tag[1] == '/' {
		return tag[2:]
	}
	return tag
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
