package main

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// fail shows title and output in every browser until the next good cycle.
func (d *devServer) fail(title, output string) {
	d.mu.Lock()
	d.failure, d.detail = title, output
	d.mu.Unlock()
	fmt.Fprintf(d.errOut, "dev: %s:\n%s\n", title, output)
	d.proxy.SendSSE("message", "reload")
}

// ServeHTTP serves the reload script and events, /_dev/status,
// /_dev/source/ (see serveSource), the failure
// page while there is a failure, and otherwise the site through the proxy.
func (d *devServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	failure, detail, builds, serving, binaries, cur := d.failure, d.detail, d.builds, d.serving, d.binaries, d.current
	d.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/_templ/"):
		d.proxy.ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, "/_dev/source/"):
		d.serveSource(w, r)
	case r.URL.Path == "/_dev/status":
		w.Header().Set("Content-Type", "application/json")
		// ok: the latest cycle is serving. builds counts cycles (a
		// change, with or without a build), binaries those that built.
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ok": failure == "" && serving > 0 && serving == builds, "failure": failure, "detail": detail,
			"builds": builds, "serving": serving, "binaries": binaries,
		})
	case failure != "" && !strings.HasPrefix(r.URL.Path, "/static/"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, failurePage, html.EscapeString(failure), html.EscapeString(failure), html.EscapeString(detail))
	case cur == nil:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "dev: the composer is starting; this page reloads by itself", http.StatusServiceUnavailable)
	default:
		cur.proxy.ServeHTTP(w, r)
	}
}

// serveSource serves a .go or .templ file of the tree as text, so that the
// explorer can link a fragment to its source in dev mode:
// /_dev/source/fragments/weather.go. Nothing outside the module, hidden or of
// another kind is served.
func (d *devServer) serveSource(w http.ResponseWriter, r *http.Request) {
	rel := filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/_dev/source/"))
	if !filepath.IsLocal(rel) || (filepath.Ext(rel) != ".go" && filepath.Ext(rel) != ".templ") ||
		slices.ContainsFunc(strings.Split(rel, string(filepath.Separator)), func(s string) bool { return strings.HasPrefix(s, ".") }) {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(d.root, rel))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(data)
}

const failurePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dev: %s</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#222}h1{color:#b00020;font-size:1.3rem}pre{background:#fff4f4;border-left:4px solid #b00020;padding:1rem;overflow:auto;font:13px/1.45 ui-monospace,monospace;white-space:pre-wrap}</style>
</head><body>
<h1>%s</h1>
<pre>%s</pre>
<p>Fix it and save: this page reloads by itself (broadsheet dev).</p>
<script src="/_templ/reload/script.js"></script>
</body></html>
`
