package redisstore_test

import (
	"context"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/internal/htmltest"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
)

// TestStoredHTMLIsNormalized: a value read from Redis is trusted no more
// than a fresh render. An entry whose HTML is unbalanced — written by
// something other than a composer — is normalized before it reaches a
// page, with an in-process tier and without.
func TestStoredHTMLIsNormalized(t *testing.T) {
	srv := redistest.Start(t)
	cnt := newCounted(0)
	site := cnt.site(2)
	a, _, store := instance(t, srv, site, 0, false)
	page(t, a)
	wait.For(t, "write-back", func() bool { return store.Stats().Sets == 3 }) // the board and its items

	p, err := composer.NewParams(site.Fragments["item"].Spec, map[string]string{"id": "0"})
	if err != nil {
		t.Fatal(err)
	}
	// Within the limits a value read from Redis is held to (its
	// fragment's lifetimes), so that only its HTML is wrong.
	now := time.Now()
	set := site.Fragments["item"].Settings
	tampered := &composer.Entry{Key: composer.Key("item", p), Version: "1", HTML: []byte(`<li><table><tr><td>open`),
		Created: now, FreshUntil: now.Add(set.Fresh), StaleUntil: now.Add(set.Fresh + set.Stale)}
	if err := store.SetMulti(context.Background(), []*composer.Entry{tampered}); err != nil {
		t.Fatal(err)
	}
	// The element that holds the second item's text: its debug outline.
	second := func(n *xhtml.Node) bool {
		return n.FirstChild != nil && n.FirstChild.Type == xhtml.TextNode && n.FirstChild.Data == "1:v0"
	}
	for _, l1 := range []int64{0, -1} {
		b, _, _ := instance(t, srv, site, l1, false)
		for range 2 {
			body := page(t, b)
			if got := htmltest.Ancestors(body, second); got != "li<ol<bs-frag<body<html" {
				t.Errorf("L1 %d: the item after the tampered one has ancestors %s\n%s", l1, got, body)
			}
		}
		if n := b.Stats().Normalized.Load(); n < 1 {
			t.Errorf("L1 %d: Normalized = %d", l1, n)
		}
	}
}
