package htmlnorm

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The second pass, for HTML the first does not accept: golang.org/x/net/html
// parses it as a browser would parse it inside a <div> — closing what it
// leaves open, dropping closing tags it has no opening for, moving what a
// table cannot hold out of it — and html.Render writes the tree back, every
// element with its end tag and every text escaped. A few things in such a
// tree would not read back the same once placed in a page, and are made
// safe first (fixTree).

// context is where a fragment is parsed: the content of a <div> in the
// <body>, the place of an include in a page.
var context = &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}

// rebuild parses src and writes it back. Scripting is off for the parse,
// so that the content of a <noscript> is parsed (and balanced) as markup,
// as a browser without scripts reads it; a browser with scripts reads it
// as raw text up to </noscript>, which the written form holds only where
// it closes the element.
func rebuild(src []byte) (out []byte) {
	defer func() {
		if recover() != nil {
			out = escaped(src)
		}
	}()
	nodes, err := html.ParseFragmentWithOptions(bytes.NewReader(src), context, html.ParseOptionEnableScripting(false))
	if err != nil {
		return escaped(src)
	}
	root := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	for _, n := range nodes {
		root.AppendChild(n)
	}
	fixTree(root)
	var b bytes.Buffer
	b.Grow(len(src) + len(src)/8)
	for n := root.FirstChild; n != nil; n = n.NextSibling {
		if err := html.Render(&b, n); err != nil {
			return escaped(src)
		}
	}
	return b.Bytes()
}

// escaped is src as text: what is left when it cannot be rebuilt.
func escaped(src []byte) []byte { return []byte(html.EscapeString(string(src))) }

// fixTree makes safe, below n, what would not read back as it was written:
//
//   - an include element with content (written self-closing, or never
//     closed, it took in what followed): its content is moved after it,
//     so that the element is empty, as the composer expects;
//   - <base>, which would change every URL of the page: dropped;
//   - <plaintext>, which has no end tag and makes the rest of the page
//     text: written as <pre>;
//   - the text of a <noscript>, which html.Render writes as it is: escaped;
//     and within it, what a browser with scripts would read as its end (it
//     reads the content as raw text up to the first </noscript>): see
//     quietNoscript;
//   - raw text (a <script> cut off inside "<!--<script>") that would not
//     end at the end tag written after it: dropped;
//   - attribute names that would not read back as one name: dropped.
func fixTree(n *html.Node) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type != html.ElementNode {
			c = next
			continue
		}
		fixAttrs(c)
		inHTML := c.Namespace == ""
		switch {
		case c.Data == IncludeElement:
			for g := c.FirstChild; g != nil; {
				gn := g.NextSibling
				c.RemoveChild(g)
				n.InsertBefore(g, next)
				g = gn
			}
			next = c.NextSibling
		case inHTML && c.DataAtom == atom.Base:
			n.RemoveChild(c)
		case inHTML && c.DataAtom == atom.Plaintext:
			c.Data, c.DataAtom = "pre", atom.Pre
		case inHTML && c.DataAtom == atom.Noscript:
			quietNoscript(c)
			escapeText(c)
		case inHTML && literal(c):
			if !endsRaw(c) {
				for c.FirstChild != nil {
					c.RemoveChild(c.FirstChild)
				}
			}
		}
		fixTree(c)
		c = next
	}
}

// quietNoscript makes sure that nothing below n, the content of a
// <noscript>, is written as "</noscript": a browser with scripts reads that
// content as raw text up to the first one, and the rest of the fragment
// would fall outside the element. A <noscript> inside it (in any
// namespace) is unwrapped, its content kept; a comment, or the text of an
// element html.Render writes literally, that holds "</noscript" is dropped.
// (Other text and attribute values are written escaped.)
func quietNoscript(n *html.Node) {
	for d := n.FirstChild; d != nil; {
		next := d.NextSibling
		switch {
		case d.Type == html.ElementNode && d.Data == "noscript":
			first := d.FirstChild
			for g := d.FirstChild; g != nil; {
				gn := g.NextSibling
				d.RemoveChild(g)
				n.InsertBefore(g, d)
				g = gn
			}
			n.RemoveChild(d)
			if first != nil {
				next = first // its content is looked at in its new place
			}
		case d.Type == html.CommentNode && closesNoscript(d.Data),
			d.Type == html.TextNode && rawParent(n) && closesNoscript(d.Data):
			n.RemoveChild(d)
		case d.Type == html.ElementNode:
			quietNoscript(d)
		}
		d = next
	}
}

// closesNoscript reports whether s holds "</noscript", in any case.
func closesNoscript(s string) bool {
	return strings.Contains(strings.ToLower(s), "</noscript")
}

// rawParent reports whether html.Render writes the text in n as it is (its
// list, by element name whatever the namespace, as html.Render's), but for
// a <noscript>, whose text fixTree escapes (escapeText).
func rawParent(n *html.Node) bool {
	switch n.Data {
	case "iframe", "noembed", "noframes", "plaintext", "script", "style", "xmp":
		return true
	}
	return false
}

// literal reports whether html.Render writes the text in c as it is.
func literal(c *html.Node) bool {
	switch c.DataAtom {
	case atom.Script, atom.Style, atom.Xmp, atom.Iframe, atom.Noembed, atom.Noframes:
		return true
	}
	return false
}

// escapeText makes the text children of c escaped raw nodes.
func escapeText(c *html.Node) {
	for t := c.FirstChild; t != nil; t = t.NextSibling {
		if t.Type == html.TextNode {
			t.Type, t.Data = html.RawNode, html.EscapeString(t.Data)
		}
	}
}

// endsRaw reports whether the text of c, written literally and followed by
// c's end tag, is read back as c's whole content.
func endsRaw(c *html.Node) bool {
	var text strings.Builder
	for t := c.FirstChild; t != nil; t = t.NextSibling {
		if t.Type != html.TextNode {
			return false
		}
		text.WriteString(t.Data)
	}
	if text.Len() == 0 {
		return true
	}
	z := html.NewTokenizer(strings.NewReader("<" + c.Data + ">" + text.String() + "</" + c.Data + ">"))
	if z.Next() != html.StartTagToken || z.Next() != html.TextToken || len(z.Raw()) != text.Len() {
		return false
	}
	return z.Next() == html.EndTagToken
}

// fixAttrs drops the attributes whose names would not read back as
// written: one with a quote, '<', '=' or white space in it.
func fixAttrs(c *html.Node) {
	keep := c.Attr[:0]
	for _, a := range c.Attr {
		if a.Key != "" && !strings.ContainsAny(a.Key, "\"'<=/> \t\n\f\r\x00") {
			keep = append(keep, a)
		}
	}
	c.Attr = keep
}
