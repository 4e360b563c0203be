package composer

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/broadsheet/broadsheet/composer/internal/tier"
)

// Entry is one cached result: the HTML an include produced, the assets it
// needs and its freshness. Entries are immutable once stored; every field is
// safe to read concurrently.
type Entry struct {
	// Key is the include's canonical key (see Key); Version the fragment
	// version it was rendered with.
	Key     string
	Version string
	// HTML is read-only once the entry exists: it may share memory with
	// other entries' strings or a Store reply.
	HTML []byte
	// Assets are the CSS and JS URLs the HTML needs.
	Assets  []string
	Created time.Time
	// FreshUntil and StaleUntil bound the entry's life: fresh before the
	// first, servable while one refresh runs before the second.
	FreshUntil time.Time
	StaleUntil time.Time
	// Leaf, when true, records that HTML holds no include tag (MayInclude
	// is false), so that a reader need not scan it: a Store sets it from
	// what the writer recorded. False means "not known"; the HTML is then
	// scanned as usual.
	Leaf bool

	// written is set once the entry is on its way to the Store, so that
	// requests sharing one call write it once.
	written atomic.Bool
	// segs is the HTML split at its include tags, built once per entry.
	segs []segment
	// lockedUntil (Unix ns, 0 for none) is when the cross-instance lock
	// of the call that made the entry lapses: until then other instances
	// wait for the entry in the Store, so its write-back keeps trying.
	lockedUntil int64
	// mark is the in-process tier's: whether L1 let the entry go, and
	// the stitched subtree kept on it (see package tier).
	mark tier.Mark[*Entry]
}

// Size is the entry's weight in the in-process tier: the bytes it holds
// on the heap, as the Go allocator rounds them, with the tier's own
// record of it. Most of a parent's weight is its parse (its segments and
// their includes, see segsSize), several times its HTML; a tier counting
// only the HTML grew far past its configured size. It is checked against
// the heap in TestL1AccountsWhatItHolds.
func (e *Entry) Size() int {
	n := tier.Overhead + tier.AllocSize(int(unsafe.Sizeof(Entry{}))) + tier.StrSize(e.Key) + tier.AllocSize(cap(e.HTML)) +
		tier.AllocSize(16*cap(e.Assets)) + segsSize(e.segs)
	for _, a := range e.Assets {
		n += tier.StrSize(a)
	}
	return n
}

// The in-process tier (package tier) holds entries, the subtrees stitched
// from them and the pages kept whole.
type (
	l1        = tier.L1[*Entry]
	l1Writer  = tier.Writer[*Entry]
	subtree   = tier.Subtree[*Entry]
	pageStore = tier.Pages[*Entry]
	keptPage  = tier.Page[*Entry]
)

// newL1 returns an in-process tier of maxBytes (0: 64 MiB), keeping
// stitched subtrees and pages of up to stitchBytes beside it (0: a quarter
// of maxBytes; negative: none).
func newL1(maxBytes, stitchBytes int64) *l1 {
	return tier.New(tier.Options[*Entry]{
		MaxBytes:    maxBytes,
		StitchBytes: stitchBytes,
		Key:         func(e *Entry) string { return e.Key },
		Version:     func(e *Entry) string { return e.Version },
		Created:     func(e *Entry) time.Time { return e.Created },
		StaleUntil:  func(e *Entry) time.Time { return e.StaleUntil },
		Size:        (*Entry).Size,
		Mark:        func(e *Entry) *tier.Mark[*Entry] { return &e.mark },
	})
}

// inL1 returns the entry L1 holds for key if it was rendered with
// version. It reads otter's cache itself: a look-up is on every include's
// path, and one through a generic method of the tier cost a tenth more
// (see tier's BenchmarkGet).
func (c *Composer) inL1(key, version string) (*Entry, bool) {
	e, ok := c.l1.Cache().GetIfPresent(key)
	if !ok || e.Version != version {
		return nil, false
	}
	return e, true
}

// Store is a shared cache tier (Redis). Implementations must be safe for
// concurrent use, bound every call by ctx, and fail open: an error is a miss
// for the whole batch, never a reason to fail a page.
type Store interface {
	// GetMulti looks up every key in one round trip. The result has one slot
	// per key, nil for a miss (or for a value it could not decode).
	GetMulti(ctx context.Context, keys []string) ([]*Entry, error)
	// SetMulti writes entries in one round trip, each under its StoreKey and
	// expiring at its StaleUntil.
	SetMulti(ctx context.Context, entries []*Entry) error
}

// StoreKey is the shared-tier key of an entry: a namespace, the fragment
// version and the canonical key (which starts with the fragment name).
func StoreKey(version, key string) string {
	return "bs1:" + version + ":" + key
}
