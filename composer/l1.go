package composer

import (
	"time"

	"github.com/maypok86/otter/v2"
)

// l1 is the in-process cache tier: entries by canonical key, bounded by
// bytes, each removed once past its StaleUntil. It is otter's W-TinyLFU,
// which keeps a hot set of fragments resident under scans of cold ones (a
// 10,000-include page must not flush the front page's stories).
type l1 struct {
	c *otter.Cache[string, *Entry]
}

func newL1(maxBytes int64) *l1 {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	return &l1{c: otter.Must(&otter.Options[string, *Entry]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(_ string, e *Entry) uint32 {
			return uint32(min(e.Size(), 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *Entry]) time.Duration {
			return max(time.Until(e.Value.StaleUntil), time.Millisecond)
		}),
	})}
}

// get returns the entry for key if present and rendered with version.
func (l *l1) get(key, version string) *Entry {
	e, ok := l.c.GetIfPresent(key)
	if !ok || e.Version != version {
		return nil
	}
	return e
}

func (l *l1) set(e *Entry) { l.c.Set(e.Key, e) }

// purge drops every entry of the named fragment.
func (l *l1) purge(fragment string) int {
	n := 0
	prefix := fragment + "?"
	for k := range l.c.Keys() {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			l.c.Invalidate(k)
			n++
		}
	}
	return n
}

func (l *l1) close() { l.c.StopAllGoroutines() }
