package csp

import (
	"slices"
	"strings"

	"github.com/broadsheet/broadsheet/composer"
)

// Directives are the fetch directives a site may add sources to
// (composer.Site.CSP), in the order the header lists them. Each is named
// in site.yaml with underscores: site.csp.script_src.
var Directives = []string{"script-src", "style-src", "img-src", "font-src", "connect-src", "frame-src"}

// own are the sources Broadsheet itself needs in each directive: its
// stylesheet, scripts and favicon from the site's origin, inline styles,
// data: images. The others keep 'self', which a directive written out
// would otherwise take away from default-src; a directive nothing is added
// to is left out and falls back to default-src 'self'.
var own = map[string][]string{
	"script-src":  {"'self'"},
	"style-src":   {"'self'", "'unsafe-inline'"},
	"img-src":     {"'self'", "data:"},
	"font-src":    {"'self'"},
	"connect-src": {"'self'"},
	"frame-src":   {"'self'"},
}

// always are the directives written out even when nothing is added to them.
var always = []string{"script-src", "style-src", "img-src"}

// fixed closes what a page of Broadsheet never needs: plugins, a <base>
// element, forms posting elsewhere, being framed.
const fixed = "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Policy is the Content-Security-Policy of one site configuration. It is
// made once per configuration and is safe for concurrent use.
type Policy struct {
	// The header is before + nonce + after.
	before, after string
}

// Base is the policy of a site that adds nothing: the one of the admin
// listener.
var Base = New(nil, nil)

// New returns the policy that allows, in each directive, Broadsheet's own
// sources, then those of extra (by directive name, as composer.Site.CSP),
// then those of assets (the origins the site's fragments may load
// stylesheets and scripts from, see AssetOrigins; added to script-src and
// style-src), each once. The script-src of every response also holds
// that response's nonce (see Header), so its inline scripts run and no
// injected one does. Sources are expected valid (CheckSource): the
// configuration checks them.
func New(extra map[string][]string, assets []string) *Policy {
	var b strings.Builder
	b.WriteString("default-src 'self'")
	p := &Policy{}
	for _, d := range Directives {
		list := slices.Clone(own[d])
		add := func(srcs []string) {
			for _, s := range srcs {
				if !slices.ContainsFunc(list, func(o string) bool { return strings.EqualFold(o, s) }) {
					list = append(list, s)
				}
			}
		}
		add(extra[d])
		if d == "script-src" || d == "style-src" {
			add(assets)
		}
		if len(list) == len(own[d]) && !slices.Contains(always, d) {
			continue
		}
		b.WriteString("; ")
		b.WriteString(d)
		for _, s := range list {
			b.WriteByte(' ')
			b.WriteString(s)
		}
		if d == "script-src" {
			b.WriteString(" 'nonce-")
			p.before = b.String()
			b.Reset()
			b.WriteByte('\'')
		}
	}
	b.WriteString("; ")
	b.WriteString(fixed)
	p.after = b.String()
	return p
}

// ForSite returns the policy of site: its configured sources (Site.CSP)
// and the origins of its fragments' assets (AssetOrigins).
func ForSite(site *composer.Site) *Policy {
	return New(site.CSP, AssetOrigins(site))
}

// Header returns the policy's header value for a response whose inline
// scripts carry nonce.
func (p *Policy) Header(nonce string) string {
	return p.before + nonce + p.after
}

// AssetOrigins returns, sorted and each once, the origins from which a
// fragment of site may place stylesheets and scripts on a page: a remote
// fragment's service and the origins its configuration allows its Link
// headers to name (composer.Spec.AssetOrigins), and the origins of
// declared assets that are absolute URLs. Assets the composer would not
// place (composer.AssetAllowed) never reach a page, so these are all the
// origins a page's assets can come from besides its own.
func AssetOrigins(site *composer.Site) []string {
	var out []string
	for _, f := range site.Fragments {
		out = append(out, f.Spec.AssetOrigins...)
		for _, a := range f.Spec.Assets {
			if o := composer.Origin(a); o != "" {
				out = append(out, o)
			}
		}
	}
	// An origin a browser could not read as a source (an IPv6 literal)
	// is left out rather than spoil the header.
	out = slices.DeleteFunc(out, func(o string) bool { return CheckSource(o) != nil })
	for i, o := range out {
		out[i] = strings.ToLower(o)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
