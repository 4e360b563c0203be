package include

import (
	"sync"
	"sync/atomic"
)

// names interns attribute names: every name added with AddNames (the
// composer adds each declared param name) and the syntax's own, so that
// parsing a tag does not allocate a string per attribute name.
var (
	namesMu sync.Mutex
	names   atomic.Pointer[map[string]string]
)

func init() { AddNames("fragment", "page-index") }

// AddNames adds names to the interned attribute names. It is safe to call
// concurrently with parsing: the set is copied on write, so readers never
// lock.
func AddNames(list ...string) {
	namesMu.Lock()
	defer namesMu.Unlock()
	m := map[string]string{}
	if old := names.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	for _, n := range list {
		m[n] = n
	}
	names.Store(&m)
}

// intern returns b as a string, without allocating when b is an interned
// name.
func intern(b []byte) string {
	if s, ok := (*names.Load())[string(b)]; ok {
		return s
	}
	return string(b)
}
