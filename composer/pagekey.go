package composer

import (
	"slices"
	"strings"
	"sync"
)

// pageKeys are the query values a page's includes bind: with its route
// values (all of them, for its includes' bindings and the layout's
// View.Param), what a page's output can depend on.
type pageKeys struct {
	query []string
}

// pageKeyer makes pages' keys (see key); it caches, per Page, which
// request values a key is made of.
type pageKeyer struct {
	keys sync.Map // *Page → *pageKeys
}

func (ps *pageKeyer) keysOf(p *Page) *pageKeys {
	if k, ok := ps.keys.Load(p); ok {
		return k.(*pageKeys)
	}
	k := &pageKeys{}
	for _, pi := range p.Includes {
		for _, b := range pi.Params {
			if b.From == "query" && !slices.Contains(k.query, b.Value) {
				k.query = append(k.query, b.Value)
			}
		}
	}
	slices.Sort(k.query)
	ps.keys.Store(p, k)
	return k
}

// key is the page's key for req: its name, then every route value and
// every bound query value (the first, as planPage binds), length-prefixed
// so that no two sets of values make one key. A page kept whole is kept
// under it (see stitch.go), and a page's expected cost is learnt by it
// (see admit.go).
func (ps *pageKeyer) key(p *Page, req *Request) string {
	k := ps.keysOf(p)
	var b strings.Builder
	put := func(s string) {
		b.WriteString(itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	put(p.Name)
	if len(req.Route) > 0 {
		names := make([]string, 0, len(req.Route))
		for name := range req.Route {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			b.WriteByte('r')
			put(name)
			put(req.Route[name])
		}
	}
	for _, name := range k.query {
		if vs, ok := req.Query[name]; ok && len(vs) > 0 {
			b.WriteByte('q')
			put(name)
			put(vs[0])
		}
	}
	return b.String()
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
