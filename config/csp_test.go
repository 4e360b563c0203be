package config

import (
	"reflect"
	"testing"
)

func TestParseCSP(t *testing.T) {
	src := "site:\n  csp:\n" +
		"    script_src: [\"'self'\", 'https://analytics.example', \"'sha256-abc+/='\"]\n" +
		"    img_src: ['https://*.images.example', 'blob:']\n" +
		"    frame_src: ['https://www.youtube-nocookie.com/embed/']\n" +
		"    connect_src: []\n" +
		"fragments:\n  promo:\n    remote:\n      url: 'http://127.0.0.1:8081/promo'\n" +
		"      asset_origins: ['https://cdn.example', 'http://127.0.0.1:8082']\n"
	site, err := Parse("site.yaml", []byte(src), remoteRegistry())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"script-src": {"'self'", "https://analytics.example", "'sha256-abc+/='"},
		"img-src":    {"https://*.images.example", "blob:"},
		"frame-src":  {"https://www.youtube-nocookie.com/embed/"},
	}
	if !reflect.DeepEqual(site.CSP, want) {
		t.Errorf("CSP = %v, want %v", site.CSP, want)
	}
	got := site.Fragments["promo"].Spec.AssetOrigins
	if !reflect.DeepEqual(got, []string{"http://127.0.0.1:8081", "https://cdn.example", "http://127.0.0.1:8082"}) {
		t.Errorf("promo's AssetOrigins = %v", got)
	}
}
