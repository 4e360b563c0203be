// Package coord is the mechanism by which composer instances sharing a
// Store work together: one instance calls a fragment for a key while the
// others wait for its result, and a purge on one instance reaches every
// other.
//
// Two pieces, each small and alone:
//
//   - A Poller watches the keys an instance waits for another instance to
//     fill. One goroutine, alive only while something waits, looks for
//     all of them in one round trip every interval: a page of a thousand
//     includes whose calls another instance makes costs one look per
//     interval, not a thousand goroutines and timers.
//   - Generations are the fragments' purge generations on this instance,
//     of which only the newest counts: an instance hears of purges in any
//     order (a broadcast, and a full read when it starts or reconnects),
//     and an older generation arriving late must not bring a purged
//     fragment's entries back.
//
// The locks themselves (which instance calls a key) are the Store's (the
// composer's Locker); the composer decides, per key, what a lock's state
// means for a call.
package coord
