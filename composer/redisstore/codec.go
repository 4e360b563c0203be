package redisstore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
	"unsafe"

	"github.com/broadsheet/broadsheet/composer"
)

// Wire format, version 2. Every integer is a minimal (canonical) varint, so
// one entry has exactly one encoding and Decode followed by Encode gives back
// the input bytes.
//
//	magic        2 bytes  0xB5 0x5E
//	version      1 byte   0x02
//	flags        1 byte   bit 0: leaf (the HTML holds no include tag);
//	                      bit 1: signed (a tag follows the HTML);
//	                      the other bits must be 0
//	key          uvarint length, bytes
//	version      uvarint length, bytes
//	created      varint (zig-zag) unix nanoseconds
//	fresh        uvarint nanoseconds after created
//	stale        uvarint nanoseconds after fresh
//	assets       uvarint count, then per asset: uvarint length, bytes
//	html         uvarint length, bytes
//	tag          32 bytes, when signed: HMAC-SHA256 of everything before
//	             it, under a Store key (see Options.Keys); nothing may
//	             follow
//
// Storing fresh and stale as offsets makes "StaleUntil ≥ FreshUntil ≥
// Created" hold by construction; Decode still checks that the sums do not
// overflow. HTML is length-prefixed rather than "the rest" so that a value
// truncated in transit is an error, not a shorter page.
//
// The leaf flag spares readers a scan of every value for include tags
// (about 0.1 ms of a 2,000-include page read from Redis): Encode sets it
// when composer.MayInclude finds no tag, and Decode hands it over as
// Entry.Leaf without scanning. A flag that is clear must be true to the
// HTML — Decode checks that the HTML may hold a tag, so that the encoding
// stays canonical; the check costs a scan of non-leaves only, which are
// parsed for their includes next anyway. A set flag on HTML that does hold
// a tag (a value no Encode writes) makes the tag's text pass through
// unexpanded, as any other text in a stored value would.
//
// Version 1 (no flags byte) is still read, as not known to be a leaf, so
// that entries written before version 2 stay hits; Encode writes version 2
// only. An instance that reads version 1 only counts version 2 values as
// corrupt (a miss it refills), so a rolling upgrade costs calls, not pages.
const (
	magic0, magic1 = 0xB5, 0x5E
	formatVersion  = 2
	headerLen      = 4 // magic, version, flags
	flagLeaf       = 1 << 0
	flagSigned     = 1 << 1
	tagLen         = sha256.Size
)

// Limits Decode enforces on untrusted input. Encode does not enforce them;
// Store.SetMulti skips entries that exceed them instead of writing values no
// reader would accept.
const (
	MaxKeyLen     = 4 << 10  // bytes in Entry.Key
	MaxVersionLen = 256      // bytes in Entry.Version
	MaxAssets     = 64       // entries in Entry.Assets
	MaxAssetLen   = 2 << 10  // bytes in one asset URL
	MaxHTMLLen    = 64 << 20 // bytes in Entry.HTML
)

// ErrCorrupt is wrapped by every error Decode returns.
var ErrCorrupt = errors.New("redisstore: corrupt entry")

// Encode returns the binary encoding of e. It never fails: a FreshUntil
// before Created is encoded as Created, and a StaleUntil before FreshUntil as
// FreshUntil, so that every encoding decodes. Times are stored as unix
// nanoseconds (years 1678 to 2262); their location and monotonic reading are
// not kept.
func Encode(e *composer.Entry) []byte {
	return AppendEntry(make([]byte, 0, encodedLen(e)), e)
}

// AppendEntry appends the encoding of e to dst and returns the extended
// slice, like strconv.AppendInt. See Encode.
func AppendEntry(dst []byte, e *composer.Entry) []byte {
	created := e.Created.UnixNano()
	fresh := max(e.FreshUntil.UnixNano(), created)
	stale := max(e.StaleUntil.UnixNano(), fresh)

	var flags byte
	if e.Leaf || !composer.MayInclude(e.HTML) {
		flags |= flagLeaf
	}
	dst = append(dst, magic0, magic1, formatVersion, flags)
	dst = appendString(dst, e.Key)
	dst = appendString(dst, e.Version)
	dst = binary.AppendVarint(dst, created)
	dst = binary.AppendUvarint(dst, uint64(fresh)-uint64(created))
	dst = binary.AppendUvarint(dst, uint64(stale)-uint64(fresh))
	dst = binary.AppendUvarint(dst, uint64(len(e.Assets)))
	for _, a := range e.Assets {
		dst = appendString(dst, a)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.HTML)))
	return append(dst, e.HTML...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// encodedLen is an upper bound of the encoding's length.
func encodedLen(e *composer.Entry) int {
	n := headerLen + 5*binary.MaxVarintLen64 + len(e.Key) + len(e.Version) + len(e.HTML)
	for _, a := range e.Assets {
		n += binary.MaxVarintLen64 + len(a)
	}
	return n
}

// withinLimits reports whether Decode would accept the encoding of e.
func withinLimits(e *composer.Entry) bool {
	if len(e.Key) > MaxKeyLen || len(e.Version) > MaxVersionLen ||
		len(e.Assets) > MaxAssets || len(e.HTML) > MaxHTMLLen {
		return false
	}
	for _, a := range e.Assets {
		if len(a) > MaxAssetLen {
			return false
		}
	}
	return true
}

// Decode parses an encoding made by Encode. It trusts nothing in data: every
// length is bounds-checked and capped (see the Max constants), varints must
// be minimal, times must not overflow, and trailing bytes are an error. The
// returned entry does not alias data. Errors wrap ErrCorrupt.
func Decode(data []byte) (*composer.Entry, error) {
	return decode(data, false)
}

// decodeOwned is Decode for a buffer nobody else holds or will modify: the
// entry's strings and HTML point into buf instead of being copied, so a
// decoded value costs one allocation for its bytes. The regions do not
// overlap and HTML's capacity ends at buf's end, so appending to HTML
// reallocates instead of writing over the strings.
func decodeOwned(buf []byte) (*composer.Entry, error) {
	return decode(buf, true)
}

// decodeString is decodeOwned over an immutable string (a Redis reply as
// go-redis hands it over): the entry points into s, which saves copying
// every value of a 2,000-key MGET once more. The composer never writes to
// an Entry's HTML (see composer.Entry), so the bytes stay immutable.
func decodeString(s string) (*composer.Entry, error) {
	return decode(unsafe.Slice(unsafe.StringData(s), len(s)), true)
}

// decode reads an entry encoded by encode (format 1 or 2), checking every
// field against its limit; owned says whether the entry may point into
// data.
//
// It is long because it reads the format's fields in their order, one
// pass over the bytes, as encode writes them.
func decode(data []byte, owned bool) (*composer.Entry, error) {
	if len(data) < 3 || data[0] != magic0 || data[1] != magic1 {
		return nil, corrupt("bad magic")
	}
	var flags byte
	off := 3
	switch data[2] {
	case formatVersion:
		if len(data) < headerLen {
			return nil, corrupt("no flags")
		}
		flags, off = data[3], headerLen
		if flags&^(flagLeaf|flagSigned) != 0 {
			return nil, corrupt("unknown flags %#x", flags)
		}
		if flags&flagSigned != 0 {
			// The tag is the Store's to check (see Store.verify).
			if len(data) < headerLen+tagLen {
				return nil, corrupt("no tag")
			}
			data = data[:len(data)-tagLen]
		}
	case 1:
		// Version 1: no flags byte, leaf not known.
	default:
		return nil, corrupt("format version %d, want %d", data[2], formatVersion)
	}
	d := decoder{buf: data, off: off, owned: owned}
	e := new(composer.Entry)
	e.Key = d.str("key", MaxKeyLen)
	e.Version = d.str("version", MaxVersionLen)
	created := d.varint("created")
	fresh := d.uvarint("fresh")
	stale := d.uvarint("stale")
	if d.err == nil {
		// created+fresh+stale must stay an int64 for the times to mean what
		// was stored.
		f, ok := addNanos(created, fresh)
		s, ok2 := addNanos(f, stale)
		if !ok || !ok2 {
			d.fail("time offsets overflow")
		}
		e.Created, e.FreshUntil, e.StaleUntil = time.Unix(0, created), time.Unix(0, f), time.Unix(0, s)
	}
	n := d.uvarint("asset count")
	if d.err == nil && n > MaxAssets {
		d.fail("%d assets, limit %d", n, MaxAssets)
	}
	if d.err == nil && n > 0 {
		e.Assets = make([]string, n)
		for i := range e.Assets {
			e.Assets[i] = d.str("asset", MaxAssetLen)
		}
	}
	e.HTML = d.bytes("html", MaxHTMLLen)
	if d.err == nil && d.off != len(d.buf) {
		d.fail("%d trailing bytes", len(d.buf)-d.off)
	}
	if d.err == nil && data[2] == formatVersion {
		e.Leaf = flags&flagLeaf != 0
		if !e.Leaf && !composer.MayInclude(e.HTML) {
			d.fail("leaf flag clear on HTML without include tags")
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}

// addNanos returns a+d unless the sum is past math.MaxInt64. The headroom
// MaxInt64-a is computed in uint64, where it is exact for every int64 a.
func addNanos(a int64, d uint64) (int64, bool) {
	if d > uint64(math.MaxInt64)-uint64(a) {
		return 0, false
	}
	return int64(uint64(a) + d), true
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// decoder reads fields in order and keeps the first error; once it has
// failed every read returns a zero value.
type decoder struct {
	buf   []byte
	off   int
	owned bool
	err   error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corrupt(format, args...)
	}
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.fail("%s: bad varint at offset %d", field, d.off)
		return 0
	}
	// binary.Uvarint accepts padded encodings such as 0x80 0x00; only the
	// minimal one re-encodes to the same bytes.
	if n != uvarintLen(v) {
		d.fail("%s: non-minimal varint at offset %d", field, d.off)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(field string) int64 {
	u := d.uvarint(field)
	// Zig-zag, as binary.Varint.
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func uvarintLen(v uint64) int {
	return max(1, (bits.Len64(v)+6)/7)
}

// span returns the bounds of a length-prefixed field of at most limit bytes.
func (d *decoder) span(field string, limit int) (int, int, bool) {
	n := d.uvarint(field)
	if d.err != nil {
		return 0, 0, false
	}
	if n > uint64(limit) {
		d.fail("%s: length %d over limit %d", field, n, limit)
		return 0, 0, false
	}
	if n > uint64(len(d.buf)-d.off) {
		d.fail("%s: length %d past end of data", field, n)
		return 0, 0, false
	}
	start := d.off
	d.off += int(n)
	return start, d.off, true
}

func (d *decoder) str(field string, limit int) string {
	i, j, ok := d.span(field, limit)
	if !ok || i == j {
		return ""
	}
	if d.owned {
		return unsafe.String(&d.buf[i], j-i)
	}
	return string(d.buf[i:j])
}

func (d *decoder) bytes(field string, limit int) []byte {
	i, j, ok := d.span(field, limit)
	if !ok || i == j {
		return nil
	}
	if d.owned {
		return d.buf[i:j:j]
	}
	return append([]byte(nil), d.buf[i:j]...)
}
