package redisstore_test

// Redis as an untrusted neighbour: values written into Redis by anyone
// who can reach it, against a real redis-server, each served to a page
// only if a fresh render could have made it.

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
)

const (
	storeKey    = "0123456789abcdef-new-key"
	oldStoreKey = "0123456789abcdef-old-key"
)

// untrustedSite is a page with one include of "item", a fragment fresh
// for a minute and stale for an hour, rendering "<p>genuine</p>" with a
// site asset.
func untrustedSite() *composer.Site {
	item := &composer.Spec{Name: "item", Version: "1", Assets: []string{"/static/item.css"},
		Defaults: composer.Settings{Timeout: time.Second, Fresh: time.Minute, Stale: time.Hour},
		Render: func(context.Context, composer.Params) (templ.Component, error) {
			return html("<p>genuine</p>"), nil
		}}
	s := &composer.Site{Limits: composer.DefaultLimits, Fragments: map[string]*composer.Fragment{
		"item": {Spec: item, Settings: item.Defaults}}}
	s.Limits.Budget = 5 * time.Second
	s.Pages = []*composer.Page{{Name: "p", Path: "/", Layout: "l", Includes: []*composer.PageInclude{{Fragment: "item", Slot: "main"}}}}
	return s
}

// hostile is an entry for the page's include as a writer other than the
// composer may put it in Redis.
func hostile(change func(e *composer.Entry)) *composer.Entry {
	now := time.Now()
	e := &composer.Entry{Key: "item?", Version: "1", HTML: []byte(`<p>planted<img src=x onerror="alert(1)"></p>`),
		Created: now, FreshUntil: now.Add(time.Minute), StaleUntil: now.Add(time.Hour)}
	if change != nil {
		change(e)
	}
	return e
}

// TestStoreValuesMeetAFreshRendersLimits: a value in Redis reaches a page
// only if a fresh render of its fragment could have made it — within the
// size cap, the fragment's lifetimes and the assets it may place; with
// keys, only if the Store signed it. Every refused value is a miss: the
// fragment is called, and its genuine output served.
func TestStoreValuesMeetAFreshRendersLimits(t *testing.T) {
	keys, err := redisstore.ParseKeys(storeKey + "," + oldStoreKey)
	if err != nil {
		t.Fatal(err)
	}
	oldKeys, _ := redisstore.ParseKeys(oldStoreKey)
	for _, tc := range []struct {
		name string
		e    *composer.Entry
		// keys the composer's Store has; written the way the value is
		// written: nil for Encode as it is, else signed with them.
		keys, signedWith *redisstore.Keys
		// maxBytes is the fragment's own cap (Settings.MaxBytes).
		maxBytes int
		served   bool
	}{
		{name: "well-formed, no keys", e: hostile(nil), served: true},
		{name: "over the size cap", e: hostile(func(e *composer.Entry) {
			e.HTML = []byte("<p>" + strings.Repeat("x", composer.DefaultLimits.MaxFragmentBytes) + "</p>")
		})},
		{name: "over the site's cap, within its own max_bytes", maxBytes: 2 << 20, served: true, e: hostile(func(e *composer.Entry) {
			e.HTML = []byte("<p>planted" + strings.Repeat("x", composer.DefaultLimits.MaxFragmentBytes) + "</p>")
		})},
		{name: "over its own max_bytes", maxBytes: 4096, e: hostile(func(e *composer.Entry) {
			e.HTML = []byte("<p>planted" + strings.Repeat("x", 5000) + "</p>")
		})},
		{name: "fresh for ten years", e: hostile(func(e *composer.Entry) {
			e.FreshUntil = e.Created.Add(10 * 365 * 24 * time.Hour)
			e.StaleUntil = e.FreshUntil.Add(time.Hour)
		})},
		{name: "stale for longer than the fragment's stale time", e: hostile(func(e *composer.Entry) {
			e.StaleUntil = e.FreshUntil.Add(2 * time.Hour)
		})},
		{name: "made in the future", e: hostile(func(e *composer.Entry) {
			e.Created = e.Created.Add(time.Hour)
			e.FreshUntil, e.StaleUntil = e.Created.Add(time.Minute), e.Created.Add(time.Hour)
		})},
		{name: "a foreign asset", e: hostile(func(e *composer.Entry) { e.Assets = []string{"https://evil.example/x.js"} })},
		{name: "a site asset", e: hostile(func(e *composer.Entry) { e.Assets = []string{"/static/other.js"} }), served: true},
		{name: "unsigned, the composer has keys", e: hostile(nil), keys: keys},
		{name: "signed with an unknown key", e: hostile(nil), keys: oldKeys, signedWith: mustKeys(t, "another-key-0123456789")},
		{name: "signed with the first key", e: hostile(nil), keys: keys, signedWith: keys, served: true},
		{name: "signed with the old key, still accepted", e: hostile(nil), keys: keys, signedWith: oldKeys, served: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			opts := generous
			opts.Keys = tc.keys
			store, client, _ := newStore(t, srv, opts)
			writer := redisstore.New(client, redisstore.Options{Timeout: 5 * time.Second, Keys: tc.signedWith})
			if tc.signedWith == nil {
				if err := client.Set(context.Background(), composer.StoreKey(tc.e.Version, tc.e.Key), redisstore.Encode(tc.e), time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			} else if err := writer.SetMulti(context.Background(), []*composer.Entry{tc.e}); err != nil {
				t.Fatal(err)
			}
			site := untrustedSite()
			site.Fragments["item"].Settings.MaxBytes = tc.maxBytes
			c := composer.New(site, composer.Options{Store: store, Layouts: layouts})
			t.Cleanup(c.Close)
			rec := httptest.NewRecorder()
			c.Serve(rec, httptest.NewRequest("GET", "/", nil), composer.Request{Page: c.Site().Pages[0], Start: time.Now()})
			body := rec.Body.String()
			planted := strings.Contains(body, "planted")
			if planted != tc.served {
				t.Fatalf("value served: %v, want %v; page %.300s", planted, tc.served, body)
			}
			if !tc.served {
				if !strings.Contains(body, "<p>genuine</p>") || c.Stats().Calls.Load() != 1 {
					t.Errorf("refused value: want the fragment called (%d calls) and its output: %.300s", c.Stats().Calls.Load(), body)
				}
				if strings.Contains(body, "evil.example") || strings.Contains(strings.Join(rec.Header().Values("Link"), " "), "evil.example") {
					t.Errorf("a foreign asset reached the page: %v %.300s", rec.Header(), body)
				}
			}
			refused := c.Stats().StoreRefused.Load() + store.Stats().Unauthenticated
			if wantRefused := !tc.served; (refused > 0) != wantRefused {
				t.Errorf("refused %d (unauthenticated %d), want some: %v", refused, store.Stats().Unauthenticated, wantRefused)
			}
		})
	}
}

func mustKeys(t *testing.T, s string) *redisstore.Keys {
	t.Helper()
	k, err := redisstore.ParseKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKeys(t *testing.T) {
	for s, ok := range map[string]bool{"": true, storeKey: true, storeKey + "," + oldStoreKey: true, "short": false, storeKey + ",": false} {
		if _, err := redisstore.ParseKeys(s); (err == nil) != ok {
			t.Errorf("ParseKeys(%q): %v", s, err)
		}
	}
}
