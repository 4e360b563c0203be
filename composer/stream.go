package composer

import (
	"bufio"
	"bytes"
	"html"
	"net/http"
	"slices"
	"strconv"
)

// writePage streams the layout's segments in document order, waiting for
// each include as it comes (never past its deadline). Scripts the includes
// need, and the debug overlay (when overlay is not nil), are written just
// before the layout's </body>.
func (r *request) writePage(bw *bufio.Writer, w http.ResponseWriter, segs []segment, tops []node, overlay func(*bufio.Writer)) {
	fl, _ := w.(http.Flusher)
	flush := func() {
		if bw.Flush() == nil && fl != nil {
			fl.Flush()
		}
	}
	tail := func() {
		var b []byte
		for _, js := range r.pendingJS {
			b = appendScript(b[:0], js)
			bw.Write(b)
		}
		if overlay != nil {
			overlay(bw)
		}
	}
	last := len(segs) - 1
	if last < 0 || segs[last].inc != nil {
		r.writeSegs(bw, flush, segs, tops, true)
		tail()
		return
	}
	r.writeSegs(bw, flush, segs[:last], tops, true)
	text := segs[last].text
	i := bytes.LastIndex(text, []byte("</body>"))
	if i < 0 {
		i = len(text)
	}
	r.writeText(bw, text[:i], true)
	tail()
	bw.Write(text[i:])
}

func (r *request) writeSegs(bw *bufio.Writer, flush func(), segs []segment, nodes []node, top bool) {
	j := 0
	for _, s := range segs {
		r.writeText(bw, s.text, top)
		if s.inc == nil {
			continue
		}
		n := &nodes[j]
		j++
		if n.state.Load() != done {
			r.await(n, flush)
		}
		r.writeNode(bw, flush, n)
	}
}

// writeText writes static HTML; in the layout's own text it places, before
// </head>, the assets of every include settled by then.
func (r *request) writeText(bw *bufio.Writer, text []byte, top bool) {
	if top && !r.headDone {
		if i := bytes.Index(text, []byte("</head>")); i >= 0 {
			r.headDone = true
			bw.Write(text[:i])
			if r.anyAssets.Load() {
				for _, a := range r.settledAssets() {
					r.writeAsset(bw, a)
				}
			}
			bw.Write(text[i:])
			return
		}
	}
	bw.Write(text)
}

// writeAsset places an asset the first time it is needed: a stylesheet
// where it stands, a script before </body>.
func (r *request) writeAsset(bw *bufio.Writer, a string) {
	if _, ok := r.sentAssets[a]; ok {
		return
	}
	if r.sentAssets == nil {
		r.sentAssets = make(map[string]struct{})
	}
	r.sentAssets[a] = struct{}{}
	if isCSS(a) {
		var b [256]byte
		bw.Write(appendStylesheet(b[:0], a))
		return
	}
	r.pendingJS = append(r.pendingJS, a)
}

// appendStylesheet appends the element that places stylesheet a.
func appendStylesheet(b []byte, a string) []byte {
	b = append(b, `<link rel="stylesheet" href="`...)
	b = append(b, html.EscapeString(a)...)
	return append(b, `">`...)
}

// appendScript appends the element that places script a (before </body>).
func appendScript(b []byte, a string) []byte {
	b = append(b, `<script src="`...)
	b = append(b, html.EscapeString(a)...)
	return append(b, `" defer></script>`...)
}

// settledAssets lists, in document order, the assets of the includes
// settled so far.
func (r *request) settledAssets() []string {
	var out []string
	eachSettled(r.tops, func(n *node) {
		for _, a := range n.assets() {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	})
	return out
}

// assets are the assets n's content needs: its entry's, or its stitched
// subtree's.
func (n *node) assets() []string {
	switch {
	case n.entry == nil:
		return nil
	case n.stitch != nil:
		return n.stitch.Assets
	}
	return n.entry.Assets
}

func (r *request) writeNode(bw *bufio.Writer, flush func(), n *node) {
	if r.debug {
		if it, ok := debugItem(n); ok {
			r.writeDebugItem(bw, flush, n, it)
			return
		}
		r.openFrag(bw, n)
	}
	for _, a := range n.assets() {
		r.writeAsset(bw, a)
	}
	switch {
	case n.entry != nil && n.stitch != nil && r.enc != nil:
		bw.Flush()
		r.enc.WritePiece(n.stitch.Piece)
	case n.entry != nil && n.stitch != nil:
		if len(n.stitch.HTML) > bw.Available() {
			// Written whole, not a buffer's worth and then the rest:
			// net/http sends each Write as a chunk of its own, and each
			// costs write system calls.
			bw.Flush()
		}
		bw.Write(n.stitch.HTML)
	case n.entry != nil && n.children != nil:
		r.writeSegs(bw, flush, n.entry.segs, n.children, false)
		r.stitch(n)
	case n.entry != nil:
		bw.Write(n.entry.HTML)
	case n.fallback && n.frag != nil && n.frag.Settings.Fallback != "":
		bw.WriteString(n.frag.Settings.Fallback)
	default:
		bw.WriteString("<!-- bs: ")
		bw.WriteString(n.name())
		bw.WriteString(" unavailable -->")
	}
	if r.debug {
		bw.WriteString("</bs-frag>")
	}
}

// openFrag opens the debug page's wrapper of n: a bs-frag element naming
// its fragment, outcome and time (and its error, as a title).
func (r *request) openFrag(bw *bufio.Writer, n *node) {
	bw.WriteString(`<bs-frag data-fragment="`)
	bw.WriteString(html.EscapeString(n.name()))
	bw.WriteString(`" data-outcome="`)
	bw.WriteString(n.outcome.String())
	bw.WriteString(`" data-ms="`)
	var b [24]byte
	bw.Write(strconv.AppendFloat(b[:0], float64(n.dur.Microseconds())/1000, 'f', 2, 64))
	if n.err != nil {
		bw.WriteString(`" title="`)
		bw.WriteString(html.EscapeString(n.err.Error()))
	}
	bw.WriteString(`">`)
}

// listItem is an include's HTML that is one list item: html[:open] is
// its start tag, html[close:] its end tag.
type listItem struct {
	html        []byte
	open, close int
}

// debugItem reports whether n's HTML, on a debug page, is one list item
// (an <li>, a <dt> or a <dd>): a list holds only items, so its bs-frag
// goes inside the item rather than around it, and the page stays valid
// HTML. Its entry's or its fallback's HTML; never a stitched subtree
// (debug pages do not use them) nor a placeholder.
func debugItem(n *node) (listItem, bool) {
	var b []byte
	switch {
	case n.entry != nil && n.stitch == nil:
		b = n.entry.HTML
	case n.entry == nil && n.fallback && n.frag != nil && n.frag.Settings.Fallback != "":
		b = []byte(n.frag.Settings.Fallback)
	default:
		return listItem{}, false
	}
	open, close, ok := itemBounds(b)
	if !ok {
		return listItem{}, false
	}
	if n.entry != nil && n.children != nil {
		// The start tag is in the first segment, the end tag in the last.
		segs := n.entry.segs
		if open > len(segs[0].text) || len(b)-close > len(segs[len(segs)-1].text) {
			return listItem{}, false
		}
	}
	return listItem{b, open, close}, true
}

// writeDebugItem writes n, a list item on a debug page, with its bs-frag
// inside the item.
func (r *request) writeDebugItem(bw *bufio.Writer, flush func(), n *node, it listItem) {
	for _, a := range n.assets() {
		r.writeAsset(bw, a)
	}
	bw.Write(it.html[:it.open])
	r.openFrag(bw, n)
	if n.children != nil {
		segs := slices.Clone(n.entry.segs)
		last := &segs[len(segs)-1]
		last.text = last.text[:len(last.text)-(len(it.html)-it.close)]
		segs[0].text = segs[0].text[it.open:]
		r.writeSegs(bw, flush, segs, n.children, false)
		r.stitch(n)
	} else {
		bw.Write(it.html[it.open:it.close])
	}
	bw.WriteString("</bs-frag>")
	bw.Write(it.html[it.close:])
}

// itemBounds reports whether b, but for surrounding white space, is one
// element li, dt or dd, and where its start tag ends and its end tag
// begins.
func itemBounds(b []byte) (open, close int, ok bool) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := len(b)
	for j > i && isSpace(b[j-1]) {
		j--
	}
	tag := ""
	for _, t := range [...]string{"li", "dt", "dd"} {
		if startsTag(b[i:], t) {
			tag = t
		}
	}
	if tag == "" || j-i < 2*len(tag)+5 || !bytes.EqualFold(b[j-len(tag)-3:j], []byte("</"+tag+">")) {
		return 0, 0, false
	}
	// The end of the start tag: the first > outside a quoted value.
	var quote byte
	open = -1
	for k := i + 1 + len(tag); k < j && open < 0; k++ {
		switch c := b[k]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			open = k + 1
		}
	}
	close = j - len(tag) - 3
	if open < 0 || open > close {
		return 0, 0, false
	}
	// One element: no end tag of the same name closes it before the last.
	depth := 0
	inner := b[open:close]
	for k := 0; k < len(inner); k++ {
		if inner[k] != '<' {
			continue
		}
		switch {
		case startsTag(inner[k:], tag):
			depth++
		case k+1 < len(inner) && inner[k+1] == '/' && isName(inner[k+2:], tag):
			if depth == 0 {
				return 0, 0, false
			}
			depth--
		}
	}
	return open, close, true
}

// startsTag reports whether b starts with the start tag <tag, followed by
// white space, > or /.
func startsTag(b []byte, tag string) bool {
	return len(b) > 0 && b[0] == '<' && isName(b[1:], tag)
}

// isName reports whether b starts with the tag name tag (in any case)
// followed by white space, > or /.
func isName(b []byte, tag string) bool {
	if len(b) < len(tag)+1 || !bytes.EqualFold(b[:len(tag)], []byte(tag)) {
		return false
	}
	c := b[len(tag)]
	return c == '>' || c == '/' || isSpace(c)
}

// name is the include's fragment name, safe to place in a comment.
func (n *node) name() string {
	if n.ref != nil && validName(n.ref.fragment) {
		return n.ref.fragment
	}
	return "include"
}

func escapeText(s string) string { return html.EscapeString(s) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
