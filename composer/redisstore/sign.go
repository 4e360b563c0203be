package redisstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/broadsheet/broadsheet/composer"
)

// Signed values. Anyone who can write to Redis can write a value that
// decodes, and its HTML goes into pages as it is. With keys (Options.Keys),
// the Store signs every value it writes with the first key (an
// HMAC-SHA256 tag after the value, see the wire format) and accepts on
// read only values whose tag one of the keys makes: a value written by
// anyone else is a miss, counted in Stats.Unauthenticated. Two keys let
// them rotate: give every instance the new key second, then first, then
// drop the old one.

// MinKeyLen is the shortest key a Store accepts: 16 bytes, 128 bits.
const MinKeyLen = 16

// ErrUnauthenticated is wrapped by the error of a value that is not signed
// by one of the Store's keys.
var ErrUnauthenticated = errors.New("redisstore: value not signed by a store key")

// Keys are the Store's keys: the first signs, any verifies. Safe for
// concurrent use.
type Keys struct {
	pools []*sync.Pool // of hash.Hash, one pool per key
}

// NewKeys returns the keys, each at least MinKeyLen bytes; none gives nil
// (values are neither signed nor checked).
func NewKeys(keys ...[]byte) (*Keys, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	k := &Keys{}
	for i, key := range keys {
		if len(key) < MinKeyLen {
			return nil, fmt.Errorf("redisstore: key %d is %d bytes, want at least %d", i+1, len(key), MinKeyLen)
		}
		key := append([]byte(nil), key...)
		k.pools = append(k.pools, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	return k, nil
}

// ParseKeys reads keys from s, as BROADSHEET_STORE_KEY holds them: the
// keys separated by commas, the signing key first. An empty s gives nil.
func ParseKeys(s string) (*Keys, error) {
	if s == "" {
		return nil, nil
	}
	var keys [][]byte
	for k := range strings.SplitSeq(s, ",") {
		keys = append(keys, []byte(strings.TrimSpace(k)))
	}
	return NewKeys(keys...)
}

// Sign appends to dst the tag of msg under the first key.
func (k *Keys) Sign(dst, msg []byte) []byte {
	return k.tag(0, dst, msg)
}

// Verify reports whether tag is msg's tag under one of the keys.
func (k *Keys) Verify(msg, tag []byte) bool {
	var buf [sha256.Size]byte
	for i := range k.pools {
		if hmac.Equal(k.tag(i, buf[:0], msg), tag) {
			return true
		}
	}
	return false
}

func (k *Keys) tag(i int, dst, msg []byte) []byte {
	h := k.pools[i].Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	dst = h.Sum(dst)
	k.pools[i].Put(h)
	return dst
}

// appendSigned appends the encoding of e to dst, signed.
func (k *Keys) appendSigned(dst []byte, e *composer.Entry) []byte {
	start := len(dst)
	dst = AppendEntry(dst, e)
	dst[start+3] |= flagSigned
	return k.Sign(dst, dst[start:])
}

// verify checks a value read from Redis: signed, with a tag one of the
// keys makes.
func (k *Keys) verify(val []byte) error {
	if len(val) < headerLen+tagLen || val[2] != formatVersion || val[3]&flagSigned == 0 {
		return ErrUnauthenticated
	}
	n := len(val) - tagLen
	if !k.Verify(val[:n], val[n:]) {
		return ErrUnauthenticated
	}
	return nil
}
