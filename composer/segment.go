package composer

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/broadsheet/broadsheet/composer/htmlnorm"
	"github.com/broadsheet/broadsheet/composer/internal/include"
	"github.com/broadsheet/broadsheet/composer/internal/tier"
)

// segment is a run of static HTML followed by at most one include.
type segment struct {
	text []byte
	inc  *includeRef // nil for the last run
}

// includeRef is one include found in HTML, resolved against the site when
// the HTML was parsed: the fragment, its validated params and its key.
type includeRef struct {
	fragment string
	params   Params
	key      string
	// pageIndex is the page include's index (layout output only), else -1.
	pageIndex int
	// err is why the include cannot run (malformed, unknown, invalid).
	err error
	// frag is the fragment as site had it when the HTML was parsed.
	site *Site
	frag *Fragment
	// storeKey memoises StoreKey for the version last asked: refs live as
	// long as the parsed entry holding them, so a warm page builds its
	// thousands of Store keys once rather than on every request.
	storeKey atomic.Pointer[storeKeyMemo]
}

type storeKeyMemo struct{ version, key string }

// storeKeyFor returns StoreKey(version, r.key).
func (r *includeRef) storeKeyFor(version string) string {
	if m := r.storeKey.Load(); m != nil && m.version == version {
		return m.key
	}
	m := &storeKeyMemo{version: version, key: StoreKey(version, r.key)}
	r.storeKey.Store(m)
	return m.key
}

// segsSize is the memory a parse holds: its segments, its includes (one
// array), and what each include keeps — its fragment name, params, key,
// the error that refused it, and the Store key it builds on its first
// look-up there (counted from the start, so that an entry's weight does
// not change once it is in L1).
func segsSize(segs []segment) int {
	if len(segs) == 0 {
		return 0
	}
	n := tier.AllocSize(cap(segs) * int(unsafe.Sizeof(segment{})))
	refs := 0
	for i := range segs {
		r := segs[i].inc
		if r == nil {
			continue
		}
		refs++
		n += tier.StrSize(r.fragment) + tier.AllocSize(16*cap(r.params.kv)) + tier.AllocSize(len(r.key)+8) + storeKeySize(r.key)
		for j := 1; j < len(r.params.kv); j += 2 {
			n += tier.StrSize(r.params.kv[j])
		}
		if r.err != nil {
			n += 64
		}
	}
	return n + tier.AllocSize(refs*int(unsafe.Sizeof(includeRef{})))
}

// storeKeySize is the memory of a storeKeyMemo for key, with a version of
// a few bytes.
func storeKeySize(key string) int {
	return tier.AllocSize(int(unsafe.Sizeof(storeKeyMemo{}))) + tier.AllocSize(len("bs1:")+8+len(key))
}

var (
	errUnknown    = errors.New("composer: unknown fragment")
	errUndeclared = errors.New("composer: fragment not declared in the parent's Includes")
)

// parseSegments splits HTML at its include tags (a layout's output, an
// entry read from the Store) and resolves each against site. parent is the
// fragment that produced the HTML (nil for a layout); an include of a
// fragment parent does not declare is refused. It returns nil when the
// HTML has no include, the common case.
func parseSegments(site *Site, parent *Spec, html []byte) []segment {
	if !MayInclude(html) {
		return nil
	}
	return segmentsOf(site, parent, SplitIncludes(html))
}

// segmentsAt is parseSegments for HTML whose include tags spans already
// locate: a fresh render, found as it was normalized (see normalize.go).
func segmentsAt(site *Site, parent *Spec, html []byte, spans []htmlnorm.Span) []segment {
	if len(spans) == 0 {
		return nil
	}
	return segmentsOf(site, parent, include.SplitAt(html, spans))
}

func segmentsOf(site *Site, parent *Spec, pieces []Piece) []segment {
	if len(pieces) == 1 {
		return nil
	}
	segs := make([]segment, len(pieces))
	refs := make([]includeRef, len(pieces)-1)
	for i, pc := range pieces {
		segs[i].text = pc.Text
		if !pc.HasTag {
			continue
		}
		ref := &refs[i]
		segs[i].inc = ref
		ref.pageIndex = -1
		if pc.Err != nil {
			ref.err = pc.Err
			continue
		}
		if parent == nil {
			if v, ok := pc.Tag.Get("page-index"); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					ref.err = errMalformed
				}
				ref.pageIndex = n
				continue
			}
		}
		resolveTag(site, parent, pc.Tag, ref)
	}
	return segs
}

func resolveTag(site *Site, parent *Spec, tag *Tag, ref *includeRef) {
	name, ok := tag.Get("fragment")
	if !ok || name == "" {
		ref.err = errNoName
		return
	}
	ref.fragment = name
	if parent != nil && !slices.Contains(parent.Includes, name) {
		ref.err = fmt.Errorf("%w: %q includes %q", errUndeclared, parent.Name, name)
		return
	}
	f := site.Fragments[name]
	if f == nil {
		ref.err = fmt.Errorf("%w %q", errUnknown, name)
		return
	}
	p, err := newParams(f.Spec, func(n string) (string, bool) {
		if n == "fragment" {
			return "", false
		}
		return tag.Get(n)
	})
	if err != nil {
		ref.err = err
		return
	}
	ref.params = p
	ref.key = Key(name, p)
	ref.site, ref.frag = site, f
}
