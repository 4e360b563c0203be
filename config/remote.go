package config

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/composer"
)

// RemoteConfig is the remote section of a fragment in the configuration:
//
//	fragments:
//	  score:
//	    remote:
//	      url: "http://127.0.0.1:9101/fragments/score?match={match}"
//	      params: [{name: match, required: true, pattern: "m[0-9]{4,5}"}]
//	      includes: [other]
//	      batch: true   # only for Broadsheet's own fragment server
//	      sanitize: true  # drop scripts, event handlers, javascript: URLs
//	      h2c: true     # the service speaks HTTP/2 over cleartext (http:// only)
//	      asset_origins: ["https://cdn.example"]  # where its Link headers' assets may be
//	    timeout: 80ms
//
// The fragment's other fields (timeout, fresh, stale, fallback, primary,
// disabled) apply to it as to a local fragment.
type RemoteConfig struct {
	// URL is the fragment's address, with {param} placeholders.
	URL string
	// Params are the params declared in the file; nil when the file
	// declares none (the registered fragment's are meant).
	Params []composer.ParamSpec
	// Includes are the fragments its HTML may include, as declared in the
	// file; nil when the file declares none.
	Includes []string
	// Batch asks for the fragment's requests to be batched per host
	// (remote.Config.Batch): only Broadsheet's fragment server (fragmentd)
	// speaks the batch protocol.
	Batch bool
	// Sanitize asks for the fragment's HTML to be sanitized
	// (remote.Config.Sanitize).
	Sanitize bool
	// H2C says the service speaks HTTP/2 over cleartext
	// (remote.Config.H2C).
	H2C bool
	// AssetOrigins are the origins, besides the service's own, from which
	// the fragment's responses may name stylesheets and scripts in their
	// Link headers (composer.Spec.AssetOrigins); the site's
	// Content-Security-Policy allows them.
	AssetOrigins []string
}

// RemoteFactory is the type of Registry.Remote.
type RemoteFactory = func(name string, rc RemoteConfig, local *composer.Spec) (*composer.Spec, error)

// maxParamLen bounds a remote param's max_len.
const maxParamLen = 4096

// remote reads the remote section of fragment name and installs the Spec
// that factory builds from it. entries are the fragments section's, so
// that a remote fragment may include another declared later in the file.
func (p *parser) remote(name string, e entry, path string, frags map[string]*composer.Fragment, specs map[string]*composer.Spec, entries []entry, factory RemoteFactory) {
	f := p.fields(e.val, path, "url", "params", "includes", "batch", "sanitize", "h2c", "asset_origins")
	if p.resolve(e.val).Kind != yaml.MappingNode {
		return
	}
	rc, at, good := p.remoteConfig(name, e, path, f, specs, entries)
	if factory == nil {
		p.errorf(e.key, path, "remote fragments are not enabled in this program")
		return
	}
	if !good {
		return
	}
	s, err := factory(name, rc, specs[name])
	if err != nil {
		p.factoryError(err, path, at)
		return
	}
	install(name, s, frags, specs)
}

// remoteNodes are where a remote section's fields stand, for a factory's
// error to point at; nil for a field not given (the section's node for
// the URL).
type remoteNodes struct {
	url, batch, h2c *yaml.Node
}

// remoteConfig reads the fields f of fragment name's remote section (e, at
// path). It reports false when one of them is at fault.
func (p *parser) remoteConfig(name string, e entry, path string, f map[string]entry, specs map[string]*composer.Spec, entries []entry) (RemoteConfig, remoteNodes, bool) {
	var rc RemoteConfig
	at := remoteNodes{url: e.val}
	if v, vn, ok := p.required(e.val, f, path, "url"); ok {
		rc.URL, at.url = v, vn
	}
	bad := rc.URL == ""
	if pe, ok := f["params"]; ok {
		var good bool
		rc.Params, good = p.remoteParams(pe.val, join(path, "params"))
		bad = bad || !good
	} else if specs[name] == nil && strings.Contains(rc.URL, "{") {
		p.errorf(e.key, join(path, "params"), "required field is missing: %q is not a registered fragment, so its params must be declared", name)
		bad = true
	}
	if ie, ok := f["includes"]; ok {
		var good bool
		rc.Includes, good = p.remoteIncludes(ie.val, join(path, "includes"), specs, entries)
		bad = bad || !good
	}
	if be, ok := f["batch"]; ok {
		v, good := p.boolean(be.val, join(path, "batch"))
		rc.Batch, bad, at.batch = v, bad || !good, be.val
	}
	if se, ok := f["sanitize"]; ok {
		v, good := p.boolean(se.val, join(path, "sanitize"))
		rc.Sanitize, bad = v, bad || !good
	}
	if he, ok := f["h2c"]; ok {
		v, good := p.boolean(he.val, join(path, "h2c"))
		rc.H2C, bad, at.h2c = v, bad || !good, he.val
	}
	if ae, ok := f["asset_origins"]; ok {
		var good bool
		rc.AssetOrigins, good = p.assetOrigins(ae.val, join(path, "asset_origins"))
		bad = bad || !good
	}
	return rc, at, !bad
}

// factoryError reports the error of a remote section's factory (at path)
// at the field it is about: batch or h2c when the URL is fine but not for
// them, else the URL.
func (p *parser) factoryError(err error, path string, at remoteNodes) {
	msg := strings.TrimPrefix(err.Error(), "remote: ")
	switch {
	case at.batch != nil && strings.Contains(msg, ": batch: "):
		p.errorf(at.batch, join(path, "batch"), "%s", msg)
	case at.h2c != nil && strings.Contains(msg, ": h2c "):
		p.errorf(at.h2c, join(path, "h2c"), "%s", msg)
	default:
		p.errorf(at.url, join(path, "url"), "%s", msg)
	}
}

// remoteIncludes reads a remote fragment's includes at n (path): names of
// fragments registered (specs) or declared in the file (entries); it
// reports false when one is not.
func (p *parser) remoteIncludes(n *yaml.Node, path string, specs map[string]*composer.Spec, entries []entry) ([]string, bool) {
	names, good := []string{}, true
	for i, in := range p.items(n, path) {
		ipath := index(path, i)
		v, ok := p.str(in, ipath)
		switch {
		case !ok:
			good = false
		case specs[v] == nil && !declared(entries, v):
			p.errorf(in, ipath, "unknown fragment %q", v)
			good = false
		default:
			names = append(names, v)
		}
	}
	return names, good
}

// install puts the remote fragment's Spec s in place of the registered
// fragment name, if there is one, keeping its settings; else it adds the
// fragment with s's defaults.
func install(name string, s *composer.Spec, frags map[string]*composer.Fragment, specs map[string]*composer.Spec) {
	specs[name] = s
	if fr := frags[name]; fr != nil {
		fr.Spec = s
		return
	}
	frags[name] = &composer.Fragment{
		Spec:     s,
		Settings: s.Defaults,
		Origin: map[string]string{
			"timeout": OriginCode, "fresh": OriginCode, "stale": OriginCode,
			"fallback": OriginCode, "primary": OriginCode, "disabled": OriginCode,
		},
	}
}

// declared reports whether the fragments section's entries declare name.
func declared(entries []entry, name string) bool {
	for _, e := range entries {
		if e.name == name {
			return true
		}
	}
	return false
}

// remoteParams reads the params of a remote section: a list of
// {name, required, default, pattern, values, max_len, doc}.
func (p *parser) remoteParams(n *yaml.Node, path string) ([]composer.ParamSpec, bool) {
	out := []composer.ParamSpec{}
	good := true
	seen := map[string]bool{}
	for i, pn := range p.items(n, path) {
		ipath := index(path, i)
		f := p.fields(pn, ipath, "name", "required", "default", "pattern", "values", "max_len", "doc")
		if pn.Kind != yaml.MappingNode {
			good = false
			continue
		}
		ps, ok := p.remoteParam(pn, f, ipath, seen)
		good = good && ok
		out = append(out, ps)
	}
	return out, good
}

// remoteParam reads the fields f of one param of a remote section (at pn,
// ipath), whose name must not be among seen, and adds its name to seen. It
// reports false when a field is at fault.
func (p *parser) remoteParam(pn *yaml.Node, f map[string]entry, ipath string, seen map[string]bool) (composer.ParamSpec, bool) {
	var ps composer.ParamSpec
	good := true
	if v, vn, ok := p.required(pn, f, ipath, "name"); ok {
		ps.Name = v
		switch {
		case !identifier.MatchString(v):
			p.errorf(vn, join(ipath, "name"), "invalid param name %q: want lowercase letters, digits, '-' or '_', starting with a letter", v)
			good = false
		case seen[v]:
			p.errorf(vn, join(ipath, "name"), "param %q declared twice", v)
			good = false
		}
		seen[v] = true
	} else {
		good = false
	}
	if e, ok := f["required"]; ok {
		v, ok := p.boolean(e.val, join(ipath, "required"))
		ps.Required, good = v, good && ok
	}
	if e, ok := f["default"]; ok {
		v, ok := p.str(e.val, join(ipath, "default"))
		ps.Default, good = v, good && ok
	}
	if e, ok := f["doc"]; ok {
		v, ok := p.str(e.val, join(ipath, "doc"))
		ps.Doc, good = v, good && ok
	}
	if e, ok := f["pattern"]; ok {
		v, ok := p.str(e.val, join(ipath, "pattern"))
		if ok && v != "" {
			if _, err := composer.CompilePattern(v); err != nil {
				p.errorf(e.val, join(ipath, "pattern"), "invalid pattern: %v", err)
				ok = false
			}
		}
		ps.Pattern, good = v, good && ok
	}
	if e, ok := f["values"]; ok {
		for j, vn := range p.items(e.val, join(ipath, "values")) {
			v, ok := p.str(vn, index(join(ipath, "values"), j))
			ps.Values, good = append(ps.Values, v), good && ok
		}
	}
	if e, ok := f["max_len"]; ok {
		v, ok := p.integer(e.val, join(ipath, "max_len"), 1, maxParamLen)
		ps.MaxLen, good = v, good && ok
	}
	return ps, good
}
