// Package htmltest looks at a page as a browser sees it, for tests: parsed
// by golang.org/x/net/html, which implements the HTML5 tree construction
// browsers use, so that where an element ends up is where a browser puts
// it, whatever the markup says.
package htmltest

import (
	"strings"

	"golang.org/x/net/html"
)

// Ancestors parses page and returns the names of the ancestors of the
// first element match accepts, nearest first, joined by "<"
// ("li<ul<body<html"), or "(none)" when no element matches.
func Ancestors(page string, match func(*html.Node) bool, opts ...html.ParseOption) string {
	doc, err := html.ParseWithOptions(strings.NewReader(page), opts...)
	if err != nil {
		return err.Error()
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode || !match(n) {
			continue
		}
		var path []string
		for p := n.Parent; p != nil && p.Type == html.ElementNode; p = p.Parent {
			path = append(path, p.Data)
		}
		return strings.Join(path, "<")
	}
	return "(none)"
}

// ID matches the element with the given id.
func ID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, "id") == id }
}

// Element matches the elements named tag with the given class among
// theirs, or any class when class is "".
func Element(tag, class string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		return n.Data == tag && (class == "" || strings.Contains(" "+attr(n, "class")+" ", " "+class+" "))
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
