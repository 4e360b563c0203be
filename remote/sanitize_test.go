package remote

import (
	"strings"
	"testing"
)

func TestSanitizeIncludes(t *testing.T) {
	in := []byte(`<p onclick="x()">a</p><bs-include fragment="footer" q="a&amp;b"></bs-include>` +
		`<!-- <bs-include fragment="footer"></bs-include> --><b>b</b>`)
	for _, tc := range []struct {
		includes bool
		want     string
	}{
		{true, `<p>a</p><bs-include fragment="footer" q="a&amp;b"></bs-include><b>b</b>`},
		{false, `<p>a</p><b>b</b>`},
	} {
		if got := string(sanitize(in, tc.includes)); got != tc.want {
			t.Errorf("sanitize(includes %v) = %q, want %q", tc.includes, got, tc.want)
		}
	}
}

// BenchmarkSanitize is the cost per fill of sanitize: true on a story card
// (what a well-behaved service sends) and on the hostile fragment of the
// tests.
func BenchmarkSanitize(b *testing.B) {
	card := []byte(`<article class="bs-card bs-card--world"><a class="bs-card__link" href="/news/s0042">` +
		`<h3 class="bs-card__title">Harbour reopens after the storm &amp; the tide</h3></a>` +
		`<p class="bs-card__summary">Ships moved again on Tuesday, three days after the storm.</p>` +
		`<p class="bs-meta"><a class="bs-meta__section" href="/news/world">World</a> <time datetime="2024-05-01T07:00:00Z">1 May</time></p></article>`)
	hostile := []byte(`<p onclick="steal()">Hi <a href="javascript:alert(1)">there</a><img src="/i.png" onerror="alert(2)"></p>` +
		`<script>alert(3)</script>` + strings.Repeat(`<bs-include fragment="footer"></bs-include><div class="c">x</div>`, 10))
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"card", card}, {"hostile", hostile}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				sanitize(bc.in, true)
			}
		})
	}
}
