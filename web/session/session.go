// Package session keeps the server side of Broadsheet's credentials: the
// admin's sessions and the reader cookies signed out before they expired.
// A credential the client holds is then only as good as its entry here:
// deleting the entry (log-out) revokes it, and every entry expires.
//
// Two Stores: Memory, for one instance, and Redis, which every instance
// sharing a Redis reads, so that a log-out on one is a log-out on all.
// Keys are chosen by the caller and should not be the credential itself
// (web stores a hash of the session id), so that whoever reads the store
// cannot sign in with what they read.
package session

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Store records keys with a value until they expire. Implementations are
// safe for concurrent use.
type Store interface {
	// Put records key with value for ttl (replacing any earlier value).
	Put(ctx context.Context, key, value string, ttl time.Duration) error
	// Get returns key's value; ok is false when there is none or it
	// expired.
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	// Delete removes key; a key that is not there is no error.
	Delete(ctx context.Context, key string) error
}

// ErrFull is Memory.Put's error when it holds its maximum of live entries.
var ErrFull = errors.New("session: store full")

// Memory is a Store in this process's memory, holding at most a fixed
// number of live entries.
type Memory struct {
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]memEntry
}

type memEntry struct {
	value   string
	expires time.Time
}

// NewMemory returns a Memory that holds at most limit live entries (at
// least 1). now is the clock (nil: time.Now).
func NewMemory(limit int, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{max: max(limit, 1), now: now, m: map[string]memEntry{}}
}

// Put records key. When max live entries are held, expired ones are swept
// first; if none had expired, Put fails with ErrFull (an entry is never
// dropped early: that would bring a revoked credential back).
func (s *Memory) Put(_ context.Context, key, value string, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok && len(s.m) >= s.max {
		for k, e := range s.m {
			if !now.Before(e.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= s.max {
			return ErrFull
		}
	}
	s.m[key] = memEntry{value: value, expires: now.Add(ttl)}
	return nil
}

// Get returns key's value while it lives.
func (s *Memory) Get(_ context.Context, key string) (string, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || !now.Before(e.expires) {
		return "", false, nil
	}
	return e.value, true, nil
}

// Delete removes key.
func (s *Memory) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Len returns the entries held, live or not yet swept.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
