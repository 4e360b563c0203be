// Package config loads Broadsheet's site configuration: one YAML file that
// sets the site's limits, overrides the defaults of the registered fragments
// and binds pages to layouts and includes. The result is a validated, new
// *composer.Site; a file with problems yields a List naming the file, line
// and field of every problem found, never a partial Site.
//
// A minimal file:
//
//	site:
//	  budget: 250ms
//	fragments:
//	  score: {timeout: 60ms, fallback: '<span class="bs-fallback">–</span>'}
//	pages:
//	  - name: match
//	    path: /match/{id}
//	    layout: article
//	    includes:
//	      - {fragment: score, slot: main, params: {match: "{route.id}"}}
package config

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/knadh/koanf/providers/file"
	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/composer"
)

// Registry is what a configuration is validated against: the registered
// fragments and the layouts pages may name. Parse does not modify it.
type Registry struct {
	Specs   []*composer.Spec
	Layouts map[string]composer.Layout
	// Slots lists, by layout name, the slots each layout of Layouts
	// places. Every include's slot must be one of its page layout's: an
	// include in a slot the layout does not place would render nothing.
	// A layout with no entry here is a registry error.
	Slots map[string][]string
	// Remote builds the Spec of a fragment that the configuration declares
	// remote (fragments.NAME.remote), from its remote section and the
	// registered Spec of that name (nil when there is none). The Spec it
	// returns replaces the registered one. Nil refuses remote fragments.
	Remote RemoteFactory
}

// The values of composer.Fragment.Origin.
const (
	OriginCode = "code"
	OriginFile = "site.yaml"
)

// Bounds of the configurable values.
const (
	maxBudget        = 60 * time.Second
	maxTimeout       = 30 * time.Second
	maxDepthLimit    = 16
	maxIncludesLimit = 100000
	maxFallbackBytes = 64 << 10
)

// Load reads the file at path and parses it with Parse.
func Load(path string, reg Registry) (*composer.Site, error) {
	data, err := file.Provider(path).ReadBytes()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, reg)
}

// Parse validates the configuration in data against reg and returns a new
// Site, or a List of every problem found, sorted by line. filename names the
// file in errors and becomes the Site's Source. Parse never panics, whatever
// data holds, and is safe to call concurrently.
func Parse(filename string, data []byte, reg Registry) (site *composer.Site, err error) {
	if filename == "" {
		filename = "config"
	}
	p := &parser{file: filename}
	defer func() {
		// The walk panics with errTooLarge to stop; anything else is a bug
		// here or in the YAML decoder, and a reload must not take the
		// server down for it.
		if r := recover(); r != nil {
			site = nil
			msg := fmt.Sprintf("internal error: %v", r)
			if r == errTooLarge {
				msg = errTooLarge.Error()
			}
			err = List{&Error{File: filename, Msg: msg}}
		}
	}()
	site = p.parse(data, reg)
	if len(p.errs) > 0 {
		p.errs.sort()
		if p.more > 0 {
			p.errs = append(p.errs, &Error{File: filename, Msg: fmt.Sprintf("%d more errors not shown", p.more)})
		}
		return nil, p.errs
	}
	return site, nil
}

func (p *parser) parse(data []byte, reg Registry) *composer.Site {
	root := p.document(data)
	if root == nil {
		return nil
	}
	top := p.fields(root, "", "site", "fragments", "pages")
	specs := p.registry(reg)
	site := &composer.Site{
		Limits:    composer.DefaultLimits,
		Fragments: make(map[string]*composer.Fragment, len(specs)),
		Source:    p.file,
	}
	if e, ok := top["site"]; ok {
		p.limits(e.val, &site.Limits, &site.CSP)
	}
	for name, s := range specs {
		site.Fragments[name] = &composer.Fragment{
			Spec:     s,
			Settings: s.Defaults,
			Origin: map[string]string{
				"timeout": OriginCode, "fresh": OriginCode, "stale": OriginCode,
				"fallback": OriginCode, "primary": OriginCode, "disabled": OriginCode,
				"max_bytes": OriginCode,
			},
		}
	}
	if e, ok := top["fragments"]; ok {
		p.overrides(e.val, site.Fragments, specs, reg.Remote)
	}
	for _, f := range site.Fragments {
		// A fallback is placed in pages as it is: normalized like any
		// fragment's HTML, so that it cannot break them either.
		f.Settings.Fallback = composer.NormalizeHTML(f.Settings.Fallback)
	}
	layouts := p.layouts(reg)
	g := p.graph(specs)
	if e, ok := top["pages"]; ok {
		site.Pages = p.pages(e.val, site, specs, layouts, g)
	}
	return site
}

// registry indexes reg's Specs by name. Problems with the Specs themselves
// are programming errors, reported without a line under the field registry.
func (p *parser) registry(reg Registry) map[string]*composer.Spec {
	specs := make(map[string]*composer.Spec, len(reg.Specs))
	for _, s := range reg.Specs {
		switch {
		case s == nil:
			p.errorf(nil, "registry", "nil Spec")
		case specs[s.Name] != nil:
			p.errorf(nil, "registry", "fragment %q registered twice", s.Name)
		default:
			specs[s.Name] = s
		}
	}
	return specs
}

// layouts maps each layout of reg to its slots, sorted. Problems with
// the registry itself are reported without a line, as in registry.
func (p *parser) layouts(reg Registry) map[string][]string {
	out := make(map[string][]string, len(reg.Layouts))
	for name, l := range reg.Layouts {
		slots, ok := reg.Slots[name]
		switch {
		case l == nil:
			p.errorf(nil, "registry", "layout %q is nil", name)
		case !ok:
			p.errorf(nil, "registry", "layout %q has no slots listed (Registry.Slots)", name)
		}
		out[name] = slices.Sorted(slices.Values(slots))
	}
	for name := range reg.Slots {
		if _, ok := reg.Layouts[name]; !ok {
			p.errorf(nil, "registry", "slots listed for layout %q, which is not registered", name)
		}
	}
	return out
}

// limits applies the site section to lim and its csp section to csp.
func (p *parser) limits(n *yaml.Node, lim *composer.Limits, csp *map[string][]string) {
	const path = "site"
	f := p.fields(n, path, "budget", "max_depth", "max_includes", "max_fragment_bytes", "debug", "explorer", "csp")
	if e, ok := f["csp"]; ok {
		*csp = p.csp(e.val, join(path, e.name))
	}
	if e, ok := f["budget"]; ok {
		if d, ok := p.duration(e.val, join(path, e.name), true, maxBudget); ok {
			lim.Budget = d
		}
	}
	if e, ok := f["max_depth"]; ok {
		if v, ok := p.integer(e.val, join(path, e.name), 1, maxDepthLimit); ok {
			lim.MaxDepth = v
		}
	}
	if e, ok := f["max_includes"]; ok {
		if v, ok := p.integer(e.val, join(path, e.name), 1, maxIncludesLimit); ok {
			lim.MaxIncludes = v
		}
	}
	if e, ok := f["max_fragment_bytes"]; ok {
		if v, ok := p.integer(e.val, join(path, e.name), composer.MinFragmentBytes, composer.MaxFragmentBytes); ok {
			lim.MaxFragmentBytes = v
		}
	}
	if e, ok := f["debug"]; ok {
		if v, ok := p.boolean(e.val, join(path, e.name)); ok {
			lim.Debug = v
		}
	}
	if e, ok := f["explorer"]; ok {
		p.explorer(e.val, join(path, e.name), lim)
	}
}

// explorer reads site.explorer: "public" opens the fragment explorer to
// everyone, "admin" (the default) to the admin token's holders only.
func (p *parser) explorer(n *yaml.Node, path string, lim *composer.Limits) {
	v, ok := p.str(n, path)
	switch {
	case !ok:
	case v == "public" || v == "admin":
		lim.PublicExplorer = v == "public"
	default:
		p.errorf(n, path, "want public or admin, got %q", v)
	}
}

// overrides applies the fragments section to the effective settings. A
// fragment with a remote section gets the Spec that remote builds, which
// replaces the registered one in frags and specs, or adds a fragment.
func (p *parser) overrides(n *yaml.Node, frags map[string]*composer.Fragment, specs map[string]*composer.Spec, remote RemoteFactory) {
	names := make([]string, 0, len(frags))
	for name := range frags {
		names = append(names, name)
	}
	sort.Strings(names)
	entries := p.entries(n, "fragments")
	for _, e := range entries {
		path := join("fragments", e.name)
		f := p.fields(e.val, path, "timeout", "fresh", "stale", "fail_hold", "fallback", "primary", "disabled", "max_bytes", "remote")
		if r, ok := f["remote"]; ok {
			p.remote(e.name, r, join(path, "remote"), frags, specs, entries, remote)
		}
		fr := frags[e.name]
		if fr == nil {
			if _, ok := f["remote"]; !ok { // else its remote section was at fault
				p.errorf(e.key, path, "unknown fragment %q%s", e.name, suggest(e.name, names))
			}
			continue
		}
		p.settings(f, path, fr)
	}
}

// settings applies the fields f of fragment fr's section (path) to its
// settings, marking each one set as the file's.
func (p *parser) settings(f map[string]entry, path string, fr *composer.Fragment) {
	set := func(name string, parse func(n *yaml.Node, path string) bool) {
		if e, ok := f[name]; ok && parse(e.val, join(path, name)) {
			fr.Origin[name] = OriginFile
		}
	}
	s := &fr.Settings
	set("timeout", func(n *yaml.Node, path string) (ok bool) {
		s.Timeout, ok = p.duration(n, path, true, maxTimeout)
		return ok
	})
	set("fresh", func(n *yaml.Node, path string) (ok bool) {
		s.Fresh, ok = p.duration(n, path, false, 0)
		return ok
	})
	set("stale", func(n *yaml.Node, path string) (ok bool) {
		s.Stale, ok = p.duration(n, path, false, 0)
		return ok
	})
	set("fail_hold", func(n *yaml.Node, path string) (ok bool) {
		var d time.Duration
		d, ok = p.duration(n, path, false, composer.MaxFailHold)
		s.FailHold = composer.FailHoldSetting(d) // 0s: off
		return ok
	})
	set("fallback", func(n *yaml.Node, path string) bool {
		v, ok := p.str(n, path)
		if ok && len(v) > maxFallbackBytes {
			p.errorf(n, path, "fallback is %d bytes, over the maximum of %d", len(v), maxFallbackBytes)
			return false
		}
		if ok {
			s.Fallback = v
		}
		return ok
	})
	set("primary", func(n *yaml.Node, path string) (ok bool) {
		s.Primary, ok = p.boolean(n, path)
		return ok
	})
	set("max_bytes", func(n *yaml.Node, path string) (ok bool) {
		s.MaxBytes, ok = p.integer(n, path, composer.MinFragmentBytes, composer.MaxFragmentBytes)
		return ok
	})
	set("disabled", func(n *yaml.Node, path string) (ok bool) {
		s.Disabled, ok = p.boolean(n, path)
		return ok
	})
}
