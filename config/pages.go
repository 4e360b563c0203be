package config

import (
	"errors"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/broadsheet/broadsheet/composer"
)

// pageCtx is what the includes of one page are checked against.
type pageCtx struct {
	site   *composer.Site
	specs  map[string]*composer.Spec
	names  []string // registered fragment names, sorted, for suggestions
	g      *graph
	keys   []string // the page path's placeholders
	routed bool     // whether the path parsed, so that keys can be trusted
	layout string   // the page's layout, "" when unknown (already reported)
	slots  []string // the slots it places, sorted
}

// pageSet is what each page is checked against besides its own fields:
// the pages read before it, by name and by route shape, and the layouts.
type pageSet struct {
	byName, byShape map[string]*composer.Page
	layouts         map[string][]string // each layout's slots, sorted
	layoutNames     []string            // sorted, for suggestions
}

// pages reads the pages section.
// layouts maps each layout's name to the slots it places, sorted.
func (p *parser) pages(n *yaml.Node, site *composer.Site, specs map[string]*composer.Spec, layouts map[string][]string, g *graph) []*composer.Page {
	c := &pageCtx{site: site, specs: specs, g: g}
	for name := range specs {
		c.names = append(c.names, name)
	}
	sort.Strings(c.names)
	set := &pageSet{byName: map[string]*composer.Page{}, byShape: map[string]*composer.Page{}, layouts: layouts}
	for name := range layouts {
		set.layoutNames = append(set.layoutNames, name)
	}
	sort.Strings(set.layoutNames)

	var out []*composer.Page
	for i, pn := range p.items(n, "pages") {
		path := index("pages", i)
		f := p.fields(pn, path, "name", "path", "title", "layout", "budget", "includes", "cache")
		if pn.Kind != yaml.MappingNode {
			continue
		}
		page := &composer.Page{Line: pn.Line, Budget: site.Limits.Budget}
		out = append(out, page)
		p.pageName(pn, f, path, page, set)
		p.pagePath(pn, f, path, page, set, c)
		if e, ok := f["title"]; ok {
			page.Title, _ = p.str(e.val, join(path, "title"))
		}
		p.pageLayout(pn, f, path, page, set, c)
		if e, ok := f["budget"]; ok {
			if d, ok := p.duration(e.val, join(path, "budget"), true, maxBudget); ok {
				page.Budget = d
			}
		}
		if e, ok := f["includes"]; ok {
			page.Includes = p.includes(e.val, join(path, "includes"), c)
		}
		if e, ok := f["cache"]; ok {
			page.Cache = p.pageCache(e.val, join(path, "cache"))
		}
	}
	return out
}

// pageName reads the name of page (at pn, path): an identifier no page
// before it has.
func (p *parser) pageName(pn *yaml.Node, f map[string]entry, path string, page *composer.Page, set *pageSet) {
	v, vn, ok := p.required(pn, f, path, "name")
	if !ok {
		return
	}
	page.Name = v
	if !identifier.MatchString(v) {
		p.errorf(vn, join(path, "name"), "invalid page name %q: want lowercase letters, digits, '-' or '_', starting with a letter", v)
	} else if first := set.byName[v]; first != nil {
		p.errorf(vn, join(path, "name"), "duplicate page name %q (first at line %d)", v, first.Line)
	} else {
		set.byName[v] = page
	}
}

// pagePath reads the path of page (at pn, path): a route no page before it
// has. Its placeholders become c's keys, to check the includes' route
// bindings against, when the path parsed.
func (p *parser) pagePath(pn *yaml.Node, f map[string]entry, path string, page *composer.Page, set *pageSet, c *pageCtx) {
	c.keys, c.routed = nil, false
	v, vn, ok := p.required(pn, f, path, "path")
	if !ok {
		return
	}
	page.Path = v
	keys, shape, err := parseRoute(v)
	switch first := set.byShape[shape]; {
	case err != nil:
		p.errorf(vn, join(path, "path"), "invalid path %q: %v", v, err)
	case first != nil:
		p.errorf(vn, join(path, "path"), "path %q is the same route as page %q's %q (line %d)", v, first.Name, first.Path, first.Line)
		c.keys, c.routed = keys, true
	default:
		set.byShape[shape] = page
		c.keys, c.routed = keys, true
	}
}

// pageLayout reads the layout of page (at pn, path), one of the
// registry's. Its slots become c's, to check the includes' slots against.
func (p *parser) pageLayout(pn *yaml.Node, f map[string]entry, path string, page *composer.Page, set *pageSet, c *pageCtx) {
	c.layout, c.slots = "", nil
	v, vn, ok := p.required(pn, f, path, "layout")
	if !ok {
		return
	}
	page.Layout = v
	if slots, ok := set.layouts[v]; !ok {
		p.errorf(vn, join(path, "layout"), "unknown layout %q%s", v, suggest(v, set.layoutNames))
	} else {
		c.layout, c.slots = v, slots
	}
}

// required returns the non-empty string value of key in f, or reports it
// missing.
func (p *parser) required(parent *yaml.Node, f map[string]entry, path, key string) (string, *yaml.Node, bool) {
	e, ok := f[key]
	if !ok {
		p.errorf(parent, join(path, key), "required field is missing")
		return "", nil, false
	}
	v, ok := p.str(e.val, join(path, key))
	if ok && v == "" {
		p.errorf(e.val, join(path, key), "must not be empty")
		return "", nil, false
	}
	return v, e.val, ok
}

// includes reads the includes of one page.
func (p *parser) includes(n *yaml.Node, path string, c *pageCtx) []*composer.PageInclude {
	items := p.items(n, path)
	if max := c.site.Limits.MaxIncludes; len(items) > max {
		p.errorf(n, path, "page has %d includes, over max_includes %d", len(items), max)
	}
	var out []*composer.PageInclude
	tooDeep := map[string]bool{}
	for j, in := range items {
		path := index(path, j)
		f := p.fields(in, path, "fragment", "slot", "primary", "params")
		if in.Kind != yaml.MappingNode {
			continue
		}
		inc := &composer.PageInclude{}
		out = append(out, inc)
		var spec *composer.Spec
		if v, vn, ok := p.required(in, f, path, "fragment"); ok {
			inc.Fragment = v
			if spec = c.specs[v]; spec == nil {
				p.errorf(vn, join(path, "fragment"), "unknown fragment %q%s", v, suggest(v, c.names))
			} else if h := c.g.height[v]; h > c.site.Limits.MaxDepth && !tooDeep[v] {
				tooDeep[v] = true
				p.errorf(vn, join(path, "fragment"), "include chain %s is %d deep, over max_depth %d", c.g.chain(v), h, c.site.Limits.MaxDepth)
			}
		}
		if v, vn, ok := p.required(in, f, path, "slot"); ok {
			inc.Slot = v
			switch {
			case !identifier.MatchString(v):
				p.errorf(vn, join(path, "slot"), "invalid slot name %q: want lowercase letters, digits, '-' or '_', starting with a letter", v)
			case c.layout != "" && !slices.Contains(c.slots, v):
				p.errorf(vn, join(path, "slot"), "layout %q has no slot %q%s; its slots: %s", c.layout, v, suggest(v, c.slots), strings.Join(c.slots, ", "))
			}
		}
		if e, ok := f["primary"]; ok {
			inc.Primary, _ = p.boolean(e.val, join(path, "primary"))
		}
		at, skipped := in, map[string]bool(nil)
		if e, ok := f["params"]; ok {
			at = e.val
			inc.Params, skipped = p.params(e.val, join(path, "params"), spec, c)
		}
		if spec != nil {
			p.missing(at, join(path, "params"), spec, inc.Params, skipped)
		}
	}
	return out
}

// params reads the params of one include. With a nil spec (an unknown
// fragment, already reported) only their form is checked.
// Params whose value is not a string are left out and returned in skipped.
func (p *parser) params(n *yaml.Node, path string, spec *composer.Spec, c *pageCtx) (out []composer.Binding, skipped map[string]bool) {
	skipped = map[string]bool{}
	for _, e := range p.entries(n, path) {
		path := join(path, e.name)
		v, ok := p.str(e.val, path)
		if !ok {
			skipped[e.name] = true
			continue
		}
		var ps *composer.ParamSpec
		if spec != nil {
			if ps = spec.Param(e.name); ps == nil {
				declared := make([]string, len(spec.Params))
				for i := range spec.Params {
					declared[i] = spec.Params[i].Name
				}
				p.errorf(e.key, path, "fragment %q has no param %q%s", spec.Name, e.name, suggest(e.name, declared))
				continue
			}
		}
		b := composer.Binding{Name: e.name, Value: v}
		if m := binding.FindStringSubmatch(v); m != nil {
			b.From, b.Value = m[1], m[2]
			switch {
			case b.From == "query" && !queryName.MatchString(b.Value):
				p.errorf(e.val, path, "invalid query name %q: want letters, digits, '.', '-' or '_'", b.Value)
			case b.From == "route" && c.routed && !slices.Contains(c.keys, b.Value):
				p.errorf(e.val, path, "the page path has no {%s} placeholder", b.Value)
			}
		} else if looksBound.MatchString(v) {
			p.errorf(e.val, path, "invalid binding %q: want {route.NAME} or {query.NAME}", v)
		} else if strings.Contains(v, "{route.") || strings.Contains(v, "{query.") {
			p.errorf(e.val, path, "a binding must be the whole value: {route.NAME} or {query.NAME}")
		} else if ps != nil && v != "" {
			// Check the literal alone: required params may be bound to
			// values only a request will bring.
			one := composer.Spec{Name: spec.Name, Params: []composer.ParamSpec{*ps}}
			one.Params[0].Required = false
			if _, err := composer.NewParams(&one, map[string]string{ps.Name: v}); err != nil {
				var pe *composer.ParamError
				if errors.As(err, &pe) {
					p.errorf(e.val, path, "value %s", pe.Reason)
				} else {
					p.errorf(e.val, path, "invalid value: %v", err)
				}
			}
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, skipped
}

// missing reports the required params of spec that have no default and no
// value among bound. Params in skipped were already reported invalid.
func (p *parser) missing(at *yaml.Node, path string, spec *composer.Spec, bound []composer.Binding, skipped map[string]bool) {
	for _, ps := range spec.Params {
		if !ps.Required || ps.Default != "" || skipped[ps.Name] {
			continue
		}
		found := false
		for _, b := range bound {
			found = found || b.Name == ps.Name && (b.From != "" || b.Value != "")
		}
		if !found {
			p.errorf(at, path, "missing required param %q of fragment %q", ps.Name, spec.Name)
		}
	}
}
