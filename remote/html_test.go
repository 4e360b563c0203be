package remote_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/internal/htmltest"
	"github.com/broadsheet/broadsheet/remote"
	"github.com/broadsheet/broadsheet/templates"
)

// Fragments of a service no one here wrote: one whose HTML is unbalanced,
// and one that sends what a page must not run.
const (
	unbalanced = `<div class="x"><table><tr><td>open`
	hostile    = `<p onclick="steal()">Hi <a href="javascript:alert(1)">there</a><img src="/i.png" onerror="alert(2)"></p>` +
		`<script>alert(3)</script><style>body { display: none }</style><svg onload="alert(4)"></svg>` +
		`<bs-include fragment="footer"></bs-include>` +
		`<div class="card" data-id="7" aria-label="Card" role="note"><a href="https://example.org/a">kept</a>`
)

// htmlService serves both on loopback, as a plain HTTP service.
func htmlService() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=60")
		switch r.URL.Path {
		case "/unbalanced":
			io.WriteString(w, unbalanced)
		case "/hostile":
			io.WriteString(w, hostile)
		default:
			http.NotFound(w, r)
		}
	}))
}

// getPage composes path's page twice (a miss, then a hit) and returns the
// second.
func getPage(t *testing.T, yaml, path string) string {
	t.Helper()
	c := remote.New(remote.Options{Logger: quiet})
	t.Cleanup(c.Close)
	comp := composer.New(newSite(t, c, yaml), composer.Options{Layouts: templates.Layouts(), ErrorPage: templates.ErrorPage, Logger: quiet})
	t.Cleanup(comp.Close)
	srv := httptest.NewServer(pageHandler(comp))
	t.Cleanup(srv.Close)
	var page string
	for range 2 {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d:\n%s", resp.StatusCode, b)
		}
		page = string(b)
	}
	return page
}

// TestUnbalancedRemoteFragment places the fragment — a service
// answering <div class="x"><table><tr><td>open — at the top of a front
// page: the rest of the page is not in its table cell, as a browser parses
// it.
func TestUnbalancedRemoteFragment(t *testing.T) {
	feed.Configure(feed.Options{})
	svc := htmlService()
	defer svc.Close()
	page := getPage(t, `
fragments:
  promo:
    remote: {url: "`+svc.URL+`/unbalanced", params: []}
pages:
  - name: front
    path: /
    layout: front
    includes:
      - {fragment: promo, slot: lead}
      - {fragment: most-read, slot: mostread}
      - {fragment: footer, slot: footer}
`, "/")
	for _, c := range []struct{ tag, class, want string }{
		{"td", "", "tr<tbody<table<div<section<main<div<body<html"}, // the promo's cell, where the promo put it
		{"aside", "bs-side", "div<body<html"},
		{"footer", "bs-footer", "body<html"},
	} {
		if got := htmltest.Ancestors(page, htmltest.Element(c.tag, c.class)); got != c.want {
			t.Errorf("<%s class=%q> has ancestors %s, want %s\n%s", c.tag, c.class, got, c.want, page)
		}
	}
}

// TestSanitize serves the hostile fragment sanitized and as it is: with
// sanitize: true its scripts, event handlers and javascript: URLs are gone,
// its classes, data-* and ARIA attributes and its include of the footer
// kept; without, it is only normalized.
func TestSanitize(t *testing.T) {
	feed.Configure(feed.Options{})
	svc := htmlService()
	defer svc.Close()
	for _, sanitized := range []bool{true, false} {
		flag := "false"
		if sanitized {
			flag = "true"
		}
		page := getPage(t, `
fragments:
  promo:
    remote: {url: "`+svc.URL+`/hostile", params: [], includes: [footer], sanitize: `+flag+`}
pages:
  - name: story
    path: /story
    layout: plain
    includes:
      - {fragment: promo, slot: main}
`, "/story")
		body := page[strings.Index(page, "<body"):]
		for _, bad := range []string{"steal()", "javascript:", "alert(", "display: none", "onload"} {
			if strings.Contains(body, bad) == sanitized {
				t.Errorf("sanitize %v: %q in the page is %v", sanitized, bad, !sanitized)
			}
		}
		if got := htmltest.Ancestors(page, htmltest.Element("div", "card")); !strings.HasSuffix(got, "body<html") {
			t.Errorf("sanitize %v: the card's ancestors are %s", sanitized, got)
		}
		for _, want := range []string{`data-id="7"`, `aria-label="Card"`, `role="note"`, `href="https://example.org/a"`, `class="bs-footer__inner"`, `src="/i.png"`} {
			if !strings.Contains(body, want) {
				t.Errorf("sanitize %v: %s is missing:\n%s", sanitized, want, body)
			}
		}
	}
}
