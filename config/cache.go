package config

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// maxCacheAge bounds a page's max_age and s_maxage: a year, as RFC 9111
// advises for "never expires".
const maxCacheAge = 365 * 24 * time.Hour

// pageCache reads a page's cache policy:
//
//	cache: {max_age: 30s, s_maxage: 10m, private: false}
//
// max_age caps the max-age computed from the page's includes, s_maxage
// adds s-maxage for shared caches, private keeps the page out of them (see
// package httpcache).
func (p *parser) pageCache(n *yaml.Node, path string) httpcache.Policy {
	var pol httpcache.Policy
	f := p.fields(n, path, "max_age", "s_maxage", "private")
	if e, ok := f["max_age"]; ok {
		pol.MaxAge, pol.HasMaxAge = p.duration(e.val, join(path, "max_age"), false, maxCacheAge)
	}
	if e, ok := f["s_maxage"]; ok {
		pol.SMaxAge, pol.HasSMaxAge = p.duration(e.val, join(path, "s_maxage"), false, maxCacheAge)
	}
	if e, ok := f["private"]; ok {
		pol.Private, _ = p.boolean(e.val, join(path, "private"))
		if pol.Private && pol.HasSMaxAge {
			p.errorf(e.val, join(path, "private"), "a private page has no s_maxage: no shared cache keeps it")
		}
	}
	return pol
}
