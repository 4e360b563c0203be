package composer

import (
	"math/bits"
	"sync"
)

// A warm page of thousands of includes allocated its nodes afresh on every
// request (136 bytes each: 84% of the bytes a warm 2,000-include page
// allocated over HTTP, and most of its garbage-collection work). Pages
// that never hand a node to a fragment call — every include served from a
// cache tier or settled without running — give their node slices back
// here when Serve returns; nothing else can hold a pointer into them then.
// Pages with calls leave theirs to the collector: a call may outlive its
// page.

const (
	minPooledNodes = 64    // smaller slices are cheap to allocate
	maxPooledNodes = 32768 // larger ones are rare enough not to keep
)

// nodePools[i] holds *[]node of capacity minPooledNodes<<i, cleared:
// 64, 128, … 32768.
var nodePools [10]sync.Pool

// nodeClass returns the pool of slices that can hold k nodes, or -1.
func nodeClass(k int) int {
	if k < minPooledNodes || k > maxPooledNodes {
		return -1
	}
	return bits.Len(uint((k - 1) / minPooledNodes))
}

// newNodes returns k zero nodes.
func newNodes(k int) []node {
	c := nodeClass(k)
	if c < 0 {
		return make([]node, k)
	}
	if p, _ := nodePools[c].Get().(*[]node); p != nil {
		return (*p)[:k]
	}
	return make([]node, k, minPooledNodes<<c)
}

// freeNodes gives ns and every slice of children below it back to the
// pools. The caller guarantees that nothing refers to them any more.
func freeNodes(ns []node) {
	for i := range ns {
		if ns[i].children != nil {
			freeNodes(ns[i].children)
		}
	}
	c := nodeClass(cap(ns))
	if c < 0 || cap(ns) != minPooledNodes<<c {
		return // not one of ours
	}
	clear(ns)
	ns = ns[:0]
	nodePools[c].Put(&ns)
}
