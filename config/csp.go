package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/web/csp"
)

// maxCSPSources bounds the sources of one directive.
const maxCSPSources = 64

// csp reads site.csp: for each fetch directive of csp.Directives, written
// with underscores (script_src, style_src, img_src, font_src,
// connect_src, frame_src), a list of CSP source expressions that the
// site's policy allows besides Broadsheet's own:
//
//	site:
//	  csp:
//	    script_src: ["https://analytics.example"]
//	    img_src: ["https://images.example", "blob:"]
//	    frame_src: ["https://www.youtube-nocookie.com"]
//
// A value that is not one source expression ("https://a.example
// https://b.example", "*.example; script-src *", "'unsafe-inlined'") is an
// error naming its line and field, as is 'none', which would allow
// nothing beside the site's own sources.
func (p *parser) csp(n *yaml.Node, path string) map[string][]string {
	known := make([]string, len(csp.Directives))
	for i, d := range csp.Directives {
		known[i] = strings.ReplaceAll(d, "-", "_")
	}
	out := map[string][]string{}
	for name, e := range p.fields(n, path, known...) {
		dpath := join(path, name)
		items := p.items(e.val, dpath)
		if len(items) > maxCSPSources {
			p.errorf(e.val, dpath, "%d sources, over the maximum of %d", len(items), maxCSPSources)
			continue
		}
		var list []string
		for i, sn := range items {
			ipath := index(dpath, i)
			v, ok := p.str(sn, ipath)
			if !ok {
				continue
			}
			if err := csp.CheckSource(v); err != nil {
				msg := strings.TrimPrefix(err.Error(), "csp: ")
				if errors.Is(err, csp.ErrNone) {
					msg += "; leave the field out to allow only the site's own sources"
				}
				p.errorf(sn, ipath, "%s", msg)
				continue
			}
			list = append(list, v)
		}
		if len(list) > 0 {
			out[strings.ReplaceAll(name, "_", "-")] = list
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// assetOrigins reads a remote fragment's asset_origins: the origins
// ("https://cdn.example", "http://127.0.0.1:8082") besides its service's
// own from which its responses' Link headers may name stylesheets and
// scripts. The site's CSP allows them (see csp.AssetOrigins).
func (p *parser) assetOrigins(n *yaml.Node, path string) ([]string, bool) {
	var out []string
	good := true
	for i, on := range p.items(n, path) {
		ipath := index(path, i)
		v, ok := p.str(on, ipath)
		if !ok {
			good = false
			continue
		}
		if err := checkOrigin(v); err != nil {
			p.errorf(on, ipath, "%v", err)
			good = false
			continue
		}
		out = append(out, v)
	}
	return out, good
}

// checkOrigin reports whether o is an http or https origin a CSP can name:
// scheme, host and optional port, nothing else.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Opaque != "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") ||
		composer.Origin(o) != o || csp.CheckSource(o) != nil {
		return fmt.Errorf("want an origin like \"https://cdn.example\" (http or https, a host, an optional port, no path), got %q", o)
	}
	return nil
}
