package composer

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/broadsheet/broadsheet/composer/compress"
)

// Request is one page to compose.
type Request struct {
	Page *Page
	// Route holds the values of the page path's placeholders.
	Route map[string]string
	Query url.Values
	// Start is when the request arrived; the budget counts from it.
	Start time.Time
	// Debug wraps every include in an element naming its fragment,
	// outcome and time, and adds the debug overlay. The caller decides
	// who may see it (site.yaml's debug, or the admin token).
	Debug bool
	// Nonce is the Content-Security-Policy nonce for inline scripts.
	Nonce string
	// Reader is the reader's verified identity ("" when anonymous). Only
	// fragments that declare NeedsReader receive it.
	Reader string
}

// node states.
const (
	pending uint32 = iota
	claimed        // a finisher is writing the result
	done
)

// node is one include of one request.
type node struct {
	ref     *includeRef
	frag    *Fragment
	depth   int32
	primary bool
	state   atomic.Uint32
	// started and deadline count from the request's arrival (r.at): plain
	// numbers, so that a page's thousands of nodes stay small and hold no
	// pointers for the collector to follow. deadline (a time.Duration) is
	// the page's budget until the include's call is joined, then the
	// include's own timeout from there (see callDeadline); the writer reads it
	// while a level's resolve may lower it, hence atomic.
	started  time.Duration
	deadline atomic.Int64

	// Written by the finisher before state becomes done; read after.
	entry    *Entry
	outcome  Outcome
	fallback bool // serve the fragment's fallback (when entry is nil)
	err      error
	tier     Tier
	dur      time.Duration
	children []node
	// stitch, when set, is served instead of children (see stitch.go).
	stitch *subtree
	// lvl collects the fresh result for the Store, when n was a miss. It
	// is set by resolve while the writer may already be settling n (at its
	// deadline), hence atomic; lvlDone makes sure n counts once.
	lvl     atomic.Pointer[level]
	lvlDone atomic.Bool
	// observed is set by whoever reports n to an IncludeBatcher: the
	// page's walk or, after it, n's late finisher.
	observed atomic.Bool
}

// request is the state of one Serve call.
type request struct {
	c        *Composer
	site     *Site
	page     *Page
	hr       *http.Request // for the head: If-None-Match, HEAD (see cacheHead)
	nonce    string
	ctx      context.Context
	start    time.Time
	deadline time.Time
	budget   time.Duration // deadline - start
	notify   chan struct{}
	count    atomic.Int64
	debug    bool
	reader   string
	party    *party // the flights this request waits for (see party)
	timer    *time.Timer
	// now is the writer's last reading of the clock (see await).
	now time.Time
	// layoutBuf holds the rendered layout (see layoutBufs).
	layoutBuf *bytes.Buffer
	// waiting is set while the writer is blocked waiting for a node.
	waiting atomic.Bool
	// preload are the Link headers writeHeader sent.
	preload []string
	mu      sync.Mutex
	levels  []*level
	tops    []node

	// Asset placement; anyAssets is set by finishers, the rest is the
	// writer's alone.
	anyAssets  atomic.Bool
	headDone   bool
	sentAssets map[string]struct{}
	pendingJS  []string

	// obsDone is set when the page's includes are being handed to the
	// IncludeBatcher (observeTree), which holds obsWalk until it has
	// walked them all; includes settled later report themselves.
	obsDone atomic.Bool
	obsWalk sync.Mutex

	// enc, when not nil, codes the body (see encode.go): the writer
	// splices stitched subtrees into it precompressed.
	enc *compress.Writer

	// escaped is set once a node is handed to a fragment call (fetch):
	// then the page's nodes may be touched after Serve returns, and are
	// left to the collector instead of being recycled.
	escaped atomic.Bool
}
