package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// The configuration is decoded into a yaml.Node tree and walked by hand
// rather than unmarshalled into structs: only the tree knows the line and
// column of every key and value, and walking it lets one pass report every
// unknown field, duplicate key and bad value with its position instead of
// stopping at the first.

// errTooLarge aborts a walk whose aliases expand beyond the node budget.
var errTooLarge = errors.New("document too large once its aliases are expanded")

// minNodeBudget is the least number of nodes a walk may visit. The budget
// only matters for documents whose aliases are expanded many times over: a
// few lines of anchors can otherwise stand for billions of nodes.
const minNodeBudget = 1 << 18

// maxErrors caps the errors one Parse reports; the rest are counted.
const maxErrors = 100

// parser holds the state of one Parse: the file name and the errors so far.
type parser struct {
	file   string
	errs   List
	more   int // errors found beyond maxErrors
	budget int // nodes the walk may still visit
}

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	if len(p.errs) >= maxErrors {
		p.more++
		return
	}
	e := &Error{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

var yamlLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// syntaxError converts an error of the YAML decoder into an *Error, taking
// the line out of its text.
func (p *parser) syntaxError(err error) {
	msg := err.Error()
	e := &Error{File: p.file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	e.Msg = "invalid YAML: " + msg
	p.errs = append(p.errs, e)
}

// document decodes data into its root node, or returns nil after recording
// why it cannot.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			p.errorf(nil, "", "empty file")
		} else {
			p.syntaxError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		p.syntaxError(err)
		return nil
	default:
		p.errorf(&next, "", "a second YAML document is not allowed")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		p.errorf(nil, "", "empty file")
		return nil
	}
	p.budget = max(minNodeBudget, 16*countNodes(&doc))
	return doc.Content[0]
}

// countNodes counts the nodes of the tree without following aliases.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// resolve follows aliases and charges the visit to the node budget.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	if p.budget--; p.budget < 0 {
		panic(errTooLarge)
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// entry is one key of a mapping with its value, aliases resolved.
type entry struct {
	name     string
	key, val *yaml.Node
}

// entries returns the keys of mapping n in file order, reporting duplicate
// and non-string keys. A null n is an empty mapping.
func (p *parser) entries(n *yaml.Node, path string) []entry {
	n = p.resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping, got %s", kind(n))
		return nil
	}
	var out []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), p.resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "want a string key, got %s", kind(k))
			continue
		}
		if k.Tag == "!!merge" {
			p.errorf(k, path, "merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, join(path, k.Value), "duplicate field (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{k.Value, k, v})
	}
	return out
}

// fields returns the values of mapping n by key, reporting keys not in known.
func (p *parser) fields(n *yaml.Node, path string, known ...string) map[string]entry {
	m := map[string]entry{}
	for _, e := range p.entries(n, path) {
		if !slices.Contains(known, e.name) {
			p.errorf(e.key, join(path, e.name), "unknown field%s", suggest(e.name, known))
			continue
		}
		m[e.name] = e
	}
	return m
}

// items returns the elements of sequence n. A null n is an empty sequence.
func (p *parser) items(n *yaml.Node, path string) []*yaml.Node {
	n = p.resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list, got %s", kind(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = p.resolve(c)
	}
	return out
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, path, "want a string, got %s", kind(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		p.errorf(n, path, "want an integer from %d to %d", lo, hi)
		return 0, false
	}
	if v < lo || v > hi {
		p.errorf(n, path, "%d is out of range %d..%d", v, lo, hi)
		return 0, false
	}
	return v, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	var v bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
		p.errorf(n, path, "want true or false")
		return false, false
	}
	return v, true
}

// duration parses a Go duration that must not be negative, must be above
// zero if positive is set, and must not exceed hi unless hi is 0.
func (p *parser) duration(n *yaml.Node, path string, positive bool, hi time.Duration) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, path, "want a duration like 250ms")
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		p.errorf(n, path, "invalid duration %q: want a duration like 250ms", n.Value)
	case positive && d <= 0:
		p.errorf(n, path, "must be positive")
	case d < 0:
		p.errorf(n, path, "must not be negative")
	case hi > 0 && d > hi:
		p.errorf(n, path, "%v is over the maximum of %v", d, hi)
	default:
		return d, true
	}
	return 0, false
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		if len(n.Value) > 32 {
			return "a long string"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}
