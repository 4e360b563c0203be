package remote

import (
	"bufio"
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/broadsheet/broadsheet/composer"
)

// FuzzCacheControl checks that ParseFreshness never panics and never
// returns negative or uncapped lifetimes from Cache-Control and Age.
func FuzzCacheControl(f *testing.F) {
	f.Fuzz(func(t *testing.T, cc, age string) {
		checkFreshness(t, CacheHeaders{CacheControl: []string{cc}, Age: age})
	})
}

// FuzzExpires checks the same of Expires, Date and Vary.
func FuzzExpires(f *testing.F) {
	f.Fuzz(func(t *testing.T, expires, date, vary string) {
		checkFreshness(t, CacheHeaders{Expires: expires, Date: date, Vary: []string{vary}})
	})
}

// checkFreshness fails t unless ParseFreshness(h) is within its bounds:
// lifetimes from zero to maxAge, none when unknown.
func checkFreshness(t *testing.T, h CacheHeaders) {
	t.Helper()
	fr := ParseFreshness(h, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	if fr.Fresh < 0 || fr.Stale < 0 || fr.Fresh > maxAge || fr.Stale > maxAge {
		t.Fatalf("ParseFreshness(%+v) = %+v", h, fr)
	}
	if !fr.Known && (fr.Fresh != 0 || fr.Stale != 0) {
		t.Fatalf("unknown freshness with times: %+v", fr)
	}
}

// FuzzLink checks that every asset the parser returns is valid, of the
// kind its extension says, and listed once.
func FuzzLink(f *testing.F) {
	base, _ := url.Parse("http://frag.example:9101/fragments/x?a=1")
	f.Fuzz(func(t *testing.T, link string) {
		got := ParseLink([]string{link}, base)
		if len(got) > maxAssets {
			t.Fatalf("%d assets", len(got))
		}
		seen := map[string]bool{}
		for _, a := range got {
			if !composer.ValidAsset(a) || seen[a] {
				t.Fatalf("ParseLink(%q) returned %q", link, a)
			}
			seen[a] = true
		}
	})
}

// FuzzExpand checks the template's promise: whatever the param values,
// the URL keeps the configured scheme, host and path segment count, and
// its query the configured keys.
func FuzzExpand(f *testing.F) {
	const tmpl = "http://frag.example:9101/fragments/{a}/x-{b}?match={a}&b={b}&fixed=1"
	params := []composer.ParamSpec{{Name: "a", MaxLen: 1 << 10}, {Name: "b", MaxLen: 1 << 10}}
	spec := &composer.Spec{Name: "t", Params: params}
	tp, err := ParseTemplate(tmpl, params)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		p, err := composer.NewParams(spec, map[string]string{"a": a, "b": b})
		if err != nil {
			return // refused before it could reach a URL
		}
		s, err := tp.Expand(p)
		if err != nil {
			if err != errDotSegment {
				t.Fatalf("Expand: %v", err)
			}
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("Expand(%q, %q) = %q, which does not parse: %v", a, b, s, err)
		}
		if u.Scheme != "http" || u.Host != "frag.example:9101" || u.User != nil || u.Fragment != "" {
			t.Fatalf("Expand(%q, %q) = %q: scheme, host or fragment changed", a, b, s)
		}
		segs := strings.Split(u.EscapedPath(), "/")
		if len(segs) != 4 || segs[1] != "fragments" || !strings.HasPrefix(segs[3], "x-") {
			t.Fatalf("Expand(%q, %q) = %q: path changed shape", a, b, s)
		}
		q := u.Query()
		if len(q) != 3 || q.Get("match") != p.Get("a") || q.Get("b") != p.Get("b") || q.Get("fixed") != "1" {
			t.Fatalf("Expand(%q, %q) = %q: query changed shape: %v", a, b, s, q)
		}
		if got, _ := url.PathUnescape(segs[2]); got != p.Get("a") {
			t.Fatalf("Expand(%q, %q) = %q: path value %q", a, b, s, got)
		}
	})
}

// FuzzFirstValues checks that the fragment server reads a query's params
// as url.URL.Query would, first value first.
func FuzzFirstValues(f *testing.F) {
	for _, q := range []string{"", "match=m0042", "a=1&a=2&b", "a=%zz&b=2", "a;b=1&c=+%20", "=x&&k=", strings.Repeat("a=1&", 70)} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		u := &url.URL{RawQuery: q}
		want := map[string]string{}
		for k, v := range u.Query() {
			want[k] = v[0]
		}
		got := firstValues(u)
		if len(got) != len(want) {
			t.Fatalf("firstValues(%q) = %q, want %q", q, got, want)
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Fatalf("firstValues(%q) = %q, want %q", q, got, want)
			}
		}
	})
}

// FuzzCutOutsideQuotes checks that cutting at each separator in turn
// finds the pieces a plain split outside quotes does.
func FuzzCutOutsideQuotes(f *testing.F) {
	for _, s := range []string{"", ",", `max-age=1, no-cache="a,b", x`, `"\",",y`, `a\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want []string
		start, quoted := 0, false
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case quoted && c == '\\':
				i++
			case c == '"':
				quoted = !quoted
			case !quoted && c == ',':
				want = append(want, s[start:i])
				start = i + 1
			}
		}
		want = append(want, s[start:])
		var got []string
		for rest, more := s, true; more; {
			var d string
			d, rest, more = cutOutsideQuotes(rest, ',')
			got = append(got, d)
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
			t.Fatalf("cuts of %q = %q, want %q", s, got, want)
		}
	})
}

// FuzzReadFrame feeds the batch response reader arbitrary bytes: it never
// panics, never returns an index out of range, a status outside 100–999
// or a body over the cap, and a frame that writeFrame wrote reads back the
// same.
func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, n uint8, max uint16) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 16<<10)
		for range 64 {
			fr, err := readFrame(br, int(n), int(max))
			if err != nil {
				break
			}
			if fr.index < 0 || fr.index >= int(n) || fr.status < 100 || fr.status > 999 ||
				len(fr.body) > int(max) || (fr.oversized && fr.body != nil) ||
				len(fr.cache.CacheControl)+len(fr.link) > maxFrameHeaders {
				t.Fatalf("readFrame(%q) = %+v", data, fr)
			}
		}
		// Round trip: the data as a body and a header value.
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		o := outcome{status: 200, html: data, cacheControl: []string{string(data)}}
		if err := writeFrame(bw, 0, &o); err != nil {
			t.Fatal(err)
		}
		_ = bw.Flush()
		fr, err := readFrame(bufio.NewReaderSize(&b, 16<<10), 1, len(data))
		if err != nil || !bytes.Equal(fr.body, data) {
			if len(data) > maxFrameLine && err != nil {
				return // a header value longer than a frame line is refused
			}
			t.Fatalf("round trip of %q: %+v %v", data, fr, err)
		}
		ccOK := len(data) > 0 && !bytes.ContainsAny(data, "\r\n")
		if ccOK != (len(fr.cache.CacheControl) == 1 && fr.cache.CacheControl[0] == string(data)) {
			t.Fatalf("round trip of %q: Cache-Control %q", data, fr.cache.CacheControl)
		}
	})
}

// FuzzParseBatchRequest checks that the batch request parser never
// panics, never returns more than max items, and that every item is a
// fragment name without "/" whose line had no space, control character or
// "#".
func FuzzParseBatchRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, max uint8) {
		items, err := parseBatchRequest(body, int(max))
		if err != nil {
			if items != nil {
				t.Fatal("items with an error")
			}
			return
		}
		if len(items) == 0 || len(items) > int(max) {
			t.Fatalf("%d items (max %d)", len(items), max)
		}
		for _, it := range items {
			if it.name == "" || strings.Contains(it.name, "/") || strings.ContainsAny(it.u.RawQuery, " #\r\n\t") ||
				it.u.Path != "" || it.u.Host != "" || it.u.Scheme != "" {
				t.Fatalf("item %+v from %q", it, body)
			}
		}
	})
}

// FuzzHTMLText checks htmlText against a rune-by-rune reading: invalid
// UTF-8 and text with a NUL are refused; otherwise the result is the text
// without its controls (C0 but HTML's white space, DEL, C1), and the input
// is left as it was.
func FuzzHTMLText(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		in := bytes.Clone(body)
		got, err := htmlText("h", body)
		if !bytes.Equal(body, in) {
			t.Fatalf("input changed: %q → %q", in, body)
		}
		if !utf8.Valid(in) {
			if err == nil {
				t.Fatalf("%q: invalid UTF-8 accepted", in)
			}
			return
		}
		if bytes.IndexByte(in, 0) >= 0 {
			if err == nil {
				t.Fatalf("%q: a NUL accepted", in)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		var want []byte
		for _, r := range string(in) {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\f' && r != '\r' || r >= 0x7f && r <= 0x9f {
				continue
			}
			want = utf8.AppendRune(want, r)
		}
		if !bytes.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("%q: got %q, want %q", in, got, want)
		}
	})
}
