package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a-h/templ/cmd/templ/generatecmd/proxy"
)

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:7331": true, "localhost:7331": true, "[::1]:7331": true, "127.0.0.1:0": true,
		":7331": false, "0.0.0.0:7331": false, "192.168.1.2:7331": false, "example.com:80": false, "7331": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v", addr, err)
		}
	}
}

func TestWatched(t *testing.T) {
	for file, want := range map[string]bool{
		"fragments/traffic.go": true, "fragments/traffic.templ": true, "site.yaml": true, "web/static/site.css": true,
		"fragments/traffic_test.go": false, "fragments/traffic_templ.go": false, "fragments/.traffic.go.swp": false,
		"fragments/traffic.go~": false, "README.md": false, "fragments/4913": false,
	} {
		if got := watched(file); got != want {
			t.Errorf("watched(%q) = %v", file, got)
		}
	}
}

// TestDevPages checks what the browser sees: the failure page with the
// output and the reload script, the source of a fragment, and nothing
// outside the tree.
func TestDevPages(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "fragments"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "fragments", "traffic.go"), []byte("package fragments\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &devServer{root: root, out: io.Discard, errOut: io.Discard,
		proxy: proxy.New(slog.New(slog.DiscardHandler), "127.0.0.1", 0, &url.URL{Scheme: "http", Host: "127.0.0.1:1"})}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}

	d.fail("go build ./cmd/composer failed", "fragments/traffic.go:3:2: undefined: <trafficView>")
	code, body := get("/weather/london")
	if code != http.StatusInternalServerError || !strings.Contains(body, "undefined: &lt;trafficView&gt;") ||
		!strings.Contains(body, `<script src="/_templ/reload/script.js">`) {
		t.Errorf("failure page: %d\n%s", code, body)
	}
	if code, body := get("/_dev/status"); code != 200 || !strings.Contains(body, `"ok":false`) {
		t.Errorf("status: %d %s", code, body)
	}
	if code, body := get("/_dev/source/fragments/traffic.go"); code != 200 || body != "package fragments\n" {
		t.Errorf("source: %d %q", code, body)
	}
	for _, path := range []string{"/_dev/source/../etc/passwd", "/_dev/source/fragments/missing.go", "/_dev/source/go.mod", "/_dev/source/.git/config.go"} {
		if code, _ := get(path); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}
}
