package composer

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// planPage binds the page's includes to this request's route and query
// values. A route value that a fragment refuses means the address names
// nothing (404); a refused query value fails the page only on a primary
// include (400), elsewhere just that include.
func (r *request) planPage(page *Page, req Request) ([]includeRef, int, string) {
	refs := make([]includeRef, len(page.Includes))
	for i, pi := range page.Includes {
		ref := &refs[i]
		ref.pageIndex = i
		ref.fragment = pi.Fragment
		f := r.site.Fragments[pi.Fragment]
		if f == nil {
			ref.err = errUnknown
			continue
		}
		p, err := newParams(f.Spec, func(name string) (string, bool) {
			for _, b := range pi.Params {
				if b.Name != name {
					continue
				}
				switch b.From {
				case "route":
					v, ok := req.Route[b.Value]
					return v, ok
				case "query":
					vs, ok := req.Query[b.Value]
					if !ok || len(vs) == 0 {
						return "", false
					}
					return vs[0], true
				default:
					return b.Value, true
				}
			}
			return "", false
		})
		if err != nil {
			var pe *ParamError
			if errors.As(err, &pe) {
				switch from := bindingSource(pi, pe.Param); {
				case from == "route":
					return nil, http.StatusNotFound, "There is nothing at this address."
				case from == "query" && (pi.Primary || f.Settings.Primary):
					return nil, http.StatusBadRequest, "The value of “" + pe.Param + "” in this address is not valid."
				}
			}
			ref.err = err
			continue
		}
		ref.params = p
		ref.key = Key(pi.Fragment, p)
	}
	return refs, 0, ""
}

// bindingSource returns where the page include binds param from ("route",
// "query", or "" for a literal or no binding). It is asked only when a
// value was refused: a map of the sources, made on every request, was 8%
// of the bytes a warm page allocated.
func bindingSource(pi *PageInclude, param string) string {
	for _, b := range pi.Params {
		if b.Name == param {
			return b.From
		}
	}
	return ""
}

// layoutBufs hold a page's rendered layout until Serve returns: its
// segments' text points into it.
var layoutBufs = sync.Pool{New: func() any {
	b := new(bytes.Buffer)
	b.Grow(8 << 10)
	return b
}}

// pageWriters buffer a page on its way to the ResponseWriter. Every flush
// of a chunked response costs two write system calls (net/http writes the
// chunk header into its 4 KiB buffer, then the chunk past it), so the
// buffer is large: a warm 2,000-include page (470 KB) goes out in 8 chunks
// rather than 15. The writer flushes whenever it must wait for an include
// anyway, so a larger buffer delays nothing that is ready.
var pageWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// renderLayout renders the page's layout and makes one node per include it
// places, in document order.
func (r *request) renderLayout(page *Page, req Request, refs []includeRef) ([]segment, []node, error) {
	layout := r.c.opts.Layouts[page.Layout]
	if layout == nil {
		return nil, nil, errors.New("composer: unknown layout " + strconv.Quote(page.Layout))
	}
	v := &View{Page: page, Title: page.Title, params: req.Route, slots: r.c.slotsOf(page), Nonce: req.Nonce}
	buf := layoutBufs.Get().(*bytes.Buffer)
	r.layoutBuf = buf
	if err := layout(v).Render(r.ctx, buf); err != nil {
		return nil, nil, err
	}
	segs := parseSegments(r.site, nil, buf.Bytes())
	if segs == nil {
		segs = []segment{{text: buf.Bytes()}}
	}
	k := 0
	for _, s := range segs {
		if s.inc != nil {
			k++
		}
	}
	tops := newNodes(k)
	r.count.Add(int64(k))
	now := time.Now()
	j := 0
	for _, s := range segs {
		if s.inc == nil {
			continue
		}
		n := &tops[j]
		j++
		n.depth = 1
		ref := s.inc
		if ref.err == nil && ref.pageIndex >= 0 {
			if ref.pageIndex >= len(refs) {
				ref.err = errMalformed
			} else {
				ref = &refs[ref.pageIndex]
				n.primary = page.Includes[ref.pageIndex].Primary
			}
		}
		r.bind(n, ref, now)
	}
	return segs, tops, nil
}

// slotsOf returns, per slot name, the indexes of the page's includes.
func (c *Composer) slotsOf(p *Page) map[string][]int {
	m := make(map[string][]int)
	for i, pi := range p.Includes {
		m[pi.Slot] = append(m[pi.Slot], i)
	}
	return m
}

// bind attaches ref to n, starts its clock and settles at once the
// includes that cannot run. It runs before n is visible to any other
// goroutine.
func (r *request) bind(n *node, ref *includeRef, now time.Time) {
	n.ref = ref
	n.started = r.at(now)
	if ref.err != nil {
		r.settle(n, OutcomePlaceholder, ref.err)
		return
	}
	if ref.site == r.site {
		n.frag = ref.frag // resolved when the HTML was parsed
	} else {
		n.frag = r.site.Fragments[ref.fragment]
	}
	if n.frag == nil {
		r.settle(n, OutcomePlaceholder, errUnknown)
		return
	}
	n.primary = n.primary || n.frag.Settings.Primary
	// Looking the include up (L1, then the level's one Store round trip)
	// is bounded by the page's budget and the Store's own bound; the
	// fragment's timeout is for its call (see fetch).
	n.deadline.Store(int64(r.budget))
}

// children makes the nodes of the includes in a parent's segments,
// settling at once those over the depth or count limits.
func (r *request) children(parent *node, segs []segment) []node {
	k := 0
	for _, s := range segs {
		if s.inc != nil {
			k++
		}
	}
	nodes := newNodes(k)
	now := time.Now()
	total := r.count.Add(int64(k))
	over := total - int64(r.site.Limits.MaxIncludes) // how many of these are past the cap
	j := 0
	for _, s := range segs {
		if s.inc == nil {
			continue
		}
		n := &nodes[j]
		n.depth = parent.depth + 1
		switch {
		case int(n.depth) > r.site.Limits.MaxDepth:
			n.ref = s.inc
			r.settle(n, OutcomePlaceholder, errTooDeep)
		case over > 0 && int64(j) >= int64(k)-over:
			n.ref = s.inc
			r.settle(n, OutcomePlaceholder, errTooMany)
		default:
			r.bind(n, s.inc, now)
		}
		j++
	}
	return nodes
}

var (
	errTooDeep = errors.New("composer: include nested too deep")
	errTooMany = errors.New("composer: too many includes on the page")
)
