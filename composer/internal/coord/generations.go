package coord

import (
	"strconv"
	"sync"
	"sync/atomic"
)

// Generations are the fragments' purge generations on this instance. The
// zero value holds none; its methods are safe for concurrent use, and
// Version takes no lock.
type Generations struct {
	m      sync.Map    // fragment name → *generation, once purged
	purged atomic.Bool // some fragment has a generation: the fast path's test
}

type generation struct {
	gen     int64
	version string
}

// Version returns the version that keys a fragment's entries: base (its
// Spec's version) while it has not been purged, else base and its
// generation.
func (g *Generations) Version(fragment, base string) string {
	if !g.purged.Load() {
		return base
	}
	if v, ok := g.m.Load(fragment); ok {
		return v.(*generation).version
	}
	return base
}

// Gen returns the fragment's generation (0 while it has none).
func (g *Generations) Gen(fragment string) int64 {
	if v, ok := g.m.Load(fragment); ok {
		return v.(*generation).gen
	}
	return 0
}

// Apply makes gen the fragment's generation, versioning its entries from
// base, unless it has that generation or a newer one already; it reports
// whether it did.
func (g *Generations) Apply(fragment, base string, gen int64) bool {
	nv := &generation{gen: gen, version: base + "." + strconv.FormatInt(gen, 10)}
	g.purged.Store(true)
	for {
		old, loaded := g.m.Load(fragment)
		if loaded && old.(*generation).gen >= gen {
			return false
		}
		if !loaded {
			if _, raced := g.m.LoadOrStore(fragment, nv); !raced {
				return true
			}
		} else if g.m.CompareAndSwap(fragment, old, nv) {
			return true
		}
	}
}
