package compress

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string // nil: no field
		want   Coding
	}{
		{"no field", nil, Identity},
		{"empty", []string{""}, Identity},
		{"gzip", []string{"gzip"}, Gzip},
		{"x-gzip", []string{"x-gzip"}, Gzip},
		{"case", []string{"GZip"}, Gzip},
		{"chrome", []string{"gzip, deflate, br, zstd"}, Gzip},
		{"zstd preferred", []string{"gzip;q=0.9, deflate, br;q=0.9, zstd"}, Zstd},
		{"safari", []string{"gzip, deflate, br"}, Gzip},
		{"br alone", []string{"br"}, Brotli},
		{"br preferred", []string{"gzip;q=0.8, br"}, Brotli},
		{"q ranks", []string{"zstd;q=0.5, gzip;q=0.9"}, Gzip},
		{"q three decimals", []string{"zstd;q=0.501, gzip;q=0.5"}, Zstd},
		{"x-gzip ranked", []string{"x-gzip, zstd;q=0.9"}, Gzip},
		{"q=1.000", []string{"gzip;q=1.000"}, Gzip},
		{"q refused", []string{"gzip;q=0"}, Identity},
		{"q=0.000 refused", []string{"gzip;q=0.000, br;q=0.001"}, Brotli},
		{"OWS", []string{" gzip ;\tq=0.5 , zstd ; q=0.4 "}, Gzip},
		{"Q upper", []string{"gzip;Q=0.5"}, Gzip},
		{"star", []string{"*"}, Gzip},
		{"star refused", []string{"*;q=0"}, Identity},
		{"star with one refused", []string{"gzip;q=0, *"}, Zstd},
		{"star below named", []string{"*;q=0.1, br"}, Brotli},
		{"identity only", []string{"identity"}, Identity},
		{"identity preferred", []string{"identity, gzip;q=0.5"}, Identity},
		{"identity tie", []string{"identity, gzip"}, Gzip},
		{"identity refused", []string{"identity;q=0"}, Identity},
		{"identity refused, gzip", []string{"identity;q=0, gzip"}, Gzip},
		{"unknown", []string{"compress, deflate, sdch"}, Identity},
		{"unknown and gzip", []string{"snappy, gzip"}, Gzip},
		{"several fields", []string{"deflate", "gzip"}, Gzip},
		{"empty elements", []string{",, gzip ,"}, Gzip},
		{"highest of duplicates", []string{"gzip;q=0.1, gzip;q=0.9, zstd;q=0.5"}, Gzip},
		// Malformed: identity, whatever else the value holds.
		{"q over 1", []string{"gzip;q=1.5"}, Identity},
		{"q 1.001", []string{"gzip;q=1.001"}, Identity},
		{"q four decimals", []string{"gzip;q=0.0001"}, Identity},
		{"q empty", []string{"gzip;q="}, Identity},
		{"q negative", []string{"gzip;q=-1"}, Identity},
		{"q text", []string{"gzip;q=high"}, Identity},
		{"other parameter", []string{"gzip;level=9"}, Identity},
		{"two parameters", []string{"gzip;q=1;q=0"}, Identity},
		{"space in name", []string{"g zip"}, Identity},
		{"bad byte", []string{"gzip\x00"}, Identity},
		{"parameter without name", []string{";q=1"}, Identity},
		{"quoted", []string{`"gzip"`}, Identity},
		{"too long", []string{"gzip, " + string(make([]byte, 600))}, Identity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Negotiate(tc.values); got != tc.want {
				t.Errorf("Negotiate(%q) = %v, want %v", tc.values, got, tc.want)
			}
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tc.values {
				r.Header.Add("Accept-Encoding", v)
			}
			if got := Negotiated(r); got != tc.want {
				t.Errorf("Negotiated = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNegotiateAmong checks the choice among the codings a response exists
// in, in the offerer's order: web/static offers br before gzip, and only
// the forms smaller than the file.
func TestNegotiateAmong(t *testing.T) {
	all := []Coding{Brotli, Gzip}
	gz := []Coding{Gzip}
	for _, tc := range []struct {
		accept  string
		offered []Coding
		want    Coding
	}{
		{"", all, Identity},
		{"gzip", all, Gzip},
		{"GZIP", all, Gzip},
		{"gzip, deflate, br, zstd", all, Brotli},
		{"gzip, deflate, br, zstd", gz, Gzip},
		{"gzip, deflate, br, zstd", nil, Identity},
		{"gzip, deflate, br, zstd", []Coding{Identity, Gzip}, Gzip},
		{"br;q=0.5, gzip", all, Gzip},
		{"br;q=0, gzip;q=0.1", all, Gzip},
		{"*", all, Brotli},
		{"*;q=0.5, br;q=0", all, Gzip},
		{"zstd", all, Identity},
		{"br", gz, Identity},
		{"identity", all, Identity},
		{"identity, br;q=0.5", all, Identity},
		{"br;q=0", all, Identity},
		{"br;q=1.5", all, Identity},
		{"br;q=0.1234", all, Identity},
		{"br;q=.5", all, Identity},
		{"br;level=5", all, Identity},
		{"br gzip", all, Identity},
		{"br;q=1.0 , , gzip", all, Brotli},
		{"br, gzip;q=x", all, Identity},
		{strings.Repeat("gzip, ", 100), all, Identity},
		{"x-gzip;q=1, br;q=0.9", all, Gzip},
	} {
		if got := NegotiateAmong([]string{tc.accept}, tc.offered); got != tc.want {
			t.Errorf("NegotiateAmong(%q, %v) = %v, want %v", tc.accept, tc.offered, got, tc.want)
		}
	}
	if got := NegotiateAmong(nil, all); got != Identity {
		t.Errorf("no field: %v", got)
	}
}

// FuzzNegotiate checks that any field value gives a coding, without
// panicking; that a value with no "gzip", "zstd" or "br" in it (in any
// case) gives identity; and that NegotiateAmong picks an offered coding or
// identity.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "gzip", "gzip, deflate, br, zstd", "br;q=0.5, *;q=0.1", "identity;q=0", "gzip;q=1.000", "gzip;q=2", ";;,,", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Negotiate([]string{s})
		if c >= numCodings {
			t.Fatalf("Negotiate(%q) = %d", s, c)
		}
		if c != Identity && !containsFold(s, c.String()) && !containsFold(s, "*") && !containsFold(s, "x-gzip") {
			t.Fatalf("Negotiate(%q) = %v, named nowhere", s, c)
		}
		for _, offered := range [][]Coding{{Gzip}, {Brotli, Gzip}} {
			c := NegotiateAmong([]string{s}, offered)
			if c != Identity && !slices.Contains(offered, c) {
				t.Fatalf("NegotiateAmong(%q, %v) = %v, not offered", s, offered, c)
			}
			if c != Identity && !containsFold(s, c.String()) && !containsFold(s, "*") && !containsFold(s, "x-gzip") {
				t.Fatalf("NegotiateAmong(%q, %v) = %v, named nowhere", s, offered, c)
			}
		}
	})
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		ok := true
		for j := 0; j < len(sub); j++ {
			a, b := s[i+j], sub[j]
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			if a != b {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
