// The tag syntax the scanner reads: the classes of bytes in tags,
// comments, tag names and attributes (see scan.go for the subset).

package htmlnorm

import "bytes"

// Classes of bytes in tags, looked up in one table: tags are read a byte at
// a time, and this is the test of every byte.
const (
	cSpace    = 1 << iota // white space
	cNameEnd              // ends a tag or attribute name: white space, '/', '>'
	cEq                   // '='
	cBad                  // in a name or an unquoted value, a parse error: '"', '\'', '<', NUL
	cUnquoted             // in an unquoted value, a parse error too: '=', '`'
)

var class = func() (t [256]uint8) {
	for _, c := range " \t\n\f\r" {
		t[c] |= cSpace | cNameEnd
	}
	t['/'] |= cNameEnd
	t['>'] |= cNameEnd
	t['='] |= cEq | cUnquoted
	t['`'] |= cUnquoted
	for _, c := range "\"'<\x00" {
		t[c] |= cBad
	}
	return t
}()

func isSpace(c byte) bool { return class[c]&cSpace != 0 }

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isNameEnd reports whether c ends a tag or attribute name.
func isNameEnd(c byte) bool { return class[c]&cNameEnd != 0 }

// comment reads the comment at i, which starts with "<!--". A comment ends
// at the first "-->" or "--!>"; "<!-->" and "<!--->" are comments too,
// left to the rebuild.
func comment(src []byte, i int) (int, bool) {
	body := src[i+4:]
	if bytes.HasPrefix(body, []byte(">")) || bytes.HasPrefix(body, []byte("->")) {
		return 0, false
	}
	end := bytes.Index(body, []byte("--"))
	for end >= 0 {
		rest := body[end+2:]
		switch {
		case bytes.HasPrefix(rest, []byte(">")):
			return i + 4 + end + 3, true
		case bytes.HasPrefix(rest, []byte("!>")):
			return i + 4 + end + 4, true
		}
		next := bytes.Index(body[end+1:], []byte("--"))
		if next < 0 {
			break
		}
		end += 1 + next
	}
	return 0, false
}

// tagName reads the name of a tag from i to the first white space, '/' or
// '>'.
func tagName(src []byte, i int) ([]byte, int, bool) {
	n := i
	for n < len(src) && class[src[n]]&cNameEnd == 0 {
		n++
	}
	if bytes.IndexByte(src[i:n], 0) >= 0 {
		return nil, 0, false
	}
	return src[i:n], n, n < len(src)
}

// attrs reads a start tag's attributes from k to its end, and returns the
// index past its '>' and whether it ended with "/>".
//
// It is one loop, longer than a screen, on purpose: it reads every byte of
// every attribute of every tag, the scan's innermost work. Split into an
// attribute's and a value's function (neither of which the compiler
// inlines), BenchmarkNormalize/board2000 ran about 9% slower. Each turn of
// the loop reads white space, then the end of the tag or one attribute:
// its name, then, after '=', its value (quoted, or up to white space).
func attrs(src []byte, k int) (end int, selfClosing, ok bool) {
	for {
		for k < len(src) && isSpace(src[k]) {
			k++
		}
		if k >= len(src) {
			return 0, false, false
		}
		switch src[k] {
		case '>':
			return k + 1, false, true
		case '/':
			if k+1 < len(src) && src[k+1] == '>' {
				return k + 2, true, true
			}
			return 0, false, false
		case '=':
			return 0, false, false // a name starting with '='
		}
		for k < len(src) && class[src[k]]&(cNameEnd|cEq|cBad) == 0 {
			k++
		}
		if k < len(src) && class[src[k]]&cBad != 0 {
			return 0, false, false
		}
		for k < len(src) && isSpace(src[k]) {
			k++
		}
		if k >= len(src) {
			return 0, false, false
		}
		if src[k] != '=' {
			continue // another attribute, or the end
		}
		k++
		for k < len(src) && isSpace(src[k]) {
			k++
		}
		if k >= len(src) {
			return 0, false, false
		}
		switch q := src[k]; q {
		case '"', '\'':
			e := bytes.IndexByte(src[k+1:], q)
			if e < 0 {
				return 0, false, false
			}
			k += e + 2
			if k >= len(src) || !isNameEnd(src[k]) {
				return 0, false, false
			}
		case '>':
			return 0, false, false // a missing value
		default:
			for k < len(src) && class[src[k]]&(cSpace|cBad|cUnquoted) == 0 && src[k] != '>' {
				k++
			}
			if k < len(src) && class[src[k]]&(cBad|cUnquoted) != 0 {
				return 0, false, false
			}
		}
	}
}
