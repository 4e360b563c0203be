package composer

import (
	"context"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"
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

// Size is the entry's weight in the in-process tier: the bytes it holds
// on the heap, as the Go allocator rounds them, with the tier's own
// record of it. Most of a parent's weight is its parse (its segments and
// their includes, see segsSize), several times its HTML; a tier counting
// only the HTML grew far past its configured size. It is checked against
// the heap in TestL1AccountsWhatItHolds.
func (e *Entry) Size() int {
	n := l1Overhead + allocSize(int(unsafe.Sizeof(Entry{}))) + strSize(e.Key) + allocSize(cap(e.HTML)) +
		allocSize(16*cap(e.Assets)) + segsSize(e.segs)
	for _, a := range e.Assets {
		n += strSize(a)
	}
	return n
}

// l1Overhead is what the in-process tier spends per entry besides the
// entry itself: otter's node (key, value, links, expiry, weight) and its
// slot in the hash table, measured with TestL1AccountsWhatItHolds.
const l1Overhead = 144

// allocSize is the memory a heap allocation of n bytes takes: Go rounds
// small ones up to a size class and large ones to whole pages.
func allocSize(n int) int {
	if n <= 0 {
		return 0
	}
	if n > sizeClasses[len(sizeClasses)-1] {
		return (n + 8191) &^ 8191
	}
	i, _ := slices.BinarySearch(sizeClasses[:], n)
	return sizeClasses[i]
}

// strSize is the memory of a string that has its own allocation.
func strSize(s string) int { return allocSize(len(s)) }

// sizeClasses are the Go allocator's small object sizes (Go 1.26,
// internal/runtime/gc.SizeClassToSize).
var sizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
	10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

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
