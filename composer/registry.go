package composer

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Registry holds a site's fragments: each fragment's file registers its
// Spec from init, and the site hands All to the server. The zero value is
// ready to use; it is safe for concurrent use.
//
// It follows database/sql's drivers: Register panics at start on a Spec
// that is invalid or registered twice, so that a mistake fails when the
// binary starts, not on a request; All lists the Specs sorted by name,
// never in init order.
type Registry struct {
	mu    sync.Mutex
	specs map[string]*Spec
}

// Register validates s (ValidateSpec) and adds it. It sets s.Source to
// the file of the init function that registers it when s names none, and
// s.Version to "1" when empty. It panics on an invalid Spec or a name
// registered before.
func (r *Registry) Register(s Spec) {
	if err := ValidateSpec(&s); err != nil {
		panic(err.Error())
	}
	if s.Source == "" {
		s.Source = registeringFile()
	}
	if s.Version == "" {
		s.Version = "1"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.specs[s.Name]; dup {
		panic(fmt.Sprintf("composer: fragment %q registered twice", s.Name))
	}
	if r.specs == nil {
		r.specs = map[string]*Spec{}
	}
	r.specs[s.Name] = &s
}

// Lookup returns the registered Spec named name, or nil.
func (r *Registry) Lookup(name string) *Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.specs[name]
}

// All returns every registered Spec, sorted by name. The Specs are shared:
// callers must not modify them.
func (r *Registry) All() []*Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Spec, 0, len(r.specs))
	for _, s := range r.specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// registeringFile returns the file of the first init function up the
// stack (a fragment registers from its file's init, maybe through a
// package's own register helper), else Register's caller's.
func registeringFile() string {
	pcs := make([]uintptr, 16)
	n := runtime.Callers(3, pcs) // above Register and this function
	frames := runtime.CallersFrames(pcs[:n])
	first := ""
	for {
		f, more := frames.Next()
		if first == "" {
			first = f.File
		}
		if name := f.Function[strings.LastIndex(f.Function, "/")+1:]; strings.Contains(name, ".init.") || strings.HasSuffix(name, ".init") {
			return f.File
		}
		if !more {
			return first
		}
	}
}
