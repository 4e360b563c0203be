package web_test

import (
	"regexp"
	"testing"
)

// TestPagesNameFingerprintedAssets checks that a page's stylesheet and
// icon are named with their content hash and served for a year, while
// the plain name is revalidated.
func TestPagesNameFingerprintedAssets(t *testing.T) {
	ts, _ := demo(t)
	_, body := get(t, ts.URL+"/")
	links := regexp.MustCompile(`<link rel="(?:stylesheet|icon)" href="(/static/[^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(links) != 2 {
		t.Fatalf("stylesheet and icon links: %q", links)
	}
	for _, l := range links {
		if !regexp.MustCompile(`^/static/[a-z]+\.[0-9a-f]{8}\.(css|svg)$`).MatchString(l[1]) {
			t.Errorf("%s is not fingerprinted", l[1])
		}
		res, _ := get(t, ts.URL+l[1])
		if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d, Cache-Control %q", l[1], res.StatusCode, res.Header.Get("Cache-Control"))
		}
	}
	res, _ := get(t, ts.URL+"/static/site.css")
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("ETag") == "" {
		t.Errorf("/static/site.css: %d, Cache-Control %q, ETag %q", res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("ETag"))
	}
}
