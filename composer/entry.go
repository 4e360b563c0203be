package composer

import (
	"context"
	"sync/atomic"
	"time"
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

	// segs is the HTML split at its include tags, built once per entry.
	segs []segment
	// written is set once the entry is on its way to the Store, so that
	// requests sharing one call write it once.
	written atomic.Bool
	// gone is set when L1 stops holding the entry (replaced, purged,
	// evicted or expired), before any look-up can see what replaced it.
	gone atomic.Bool
	// stitched is the entry's subtree written out, while none of its
	// includes changed; stitching is set while a writer builds one (see
	// stitch.go).
	stitched  atomic.Pointer[stitched]
	stitching atomic.Bool
}

// Size is the entry's weight in the in-process tier, in bytes.
func (e *Entry) Size() int {
	n := 96 + len(e.Key) + len(e.Version) + len(e.HTML) + 48*len(e.segs)
	for _, a := range e.Assets {
		n += len(a) + 16
	}
	return n
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
