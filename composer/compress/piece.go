package compress

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// Levels of the forms a Piece keeps: made once per filled piece and served
// many times, so they compress harder than per-request compression (see
// Writer) does. On the demo's 470 KB scores page: deflate 9 makes 25 KB in
// about 13 ms (gzip -6: 26 KB), zstd "better" 30 KB in 4 ms, brotli 6
// 24 KB in about 30 ms.
const (
	pieceFlateLevel = 9
	pieceZstdLevel  = zstd.SpeedBetterCompression
	pieceBrQuality  = 6
)

// Budget decides whether a piece may keep a form of n bytes, counting it
// against the memory of what holds the piece. Reserve must be safe for
// concurrent use; what it reserved is handed back by the holder, from
// Piece.Release.
type Budget interface {
	Reserve(n int64) bool
}

// Piece is a run of HTML written many times as it is (a stitched subtree,
// a whole page kept by the composer) with its compressed forms, each made
// once, the first time a page in that coding needs it, and kept while the
// Budget allows:
//
//   - gzip: a whole gzip member whose deflate data are compressed from an
//     empty history and end with a sync flush, never a final block, so that
//     the middle can be spliced into any deflate stream (Varnish's ESI
//     model); its trailer gives the CRC and size to combine;
//   - zstd: one frame, which concatenates with the page's other frames;
//   - brotli: a whole stream, only ever sent as a whole body (see
//     Writer.WriteWhole).
//
// A Piece is safe for concurrent use. Its raw bytes are never modified.
type Piece struct {
	raw    []byte
	budget Budget
	forms  [numCodings]atomic.Pointer[[]byte]
	making [numCodings]sync.Mutex // one maker per coding; others wait for its form
	made   [numCodings]atomic.Int32
	mu     sync.Mutex // guards held and released
	held   int64
	gone   bool
}

// NewPiece returns the piece of raw (which it keeps and never modifies),
// keeping forms within budget (nil: none kept).
func NewPiece(raw []byte, budget Budget) *Piece {
	return &Piece{raw: raw, budget: budget}
}

// Raw returns the piece's uncompressed bytes.
func (p *Piece) Raw() []byte { return p.raw }

// Made reports how many times the piece compressed its form in c: once,
// unless the budget refused to keep it.
func (p *Piece) Made(c Coding) int { return int(p.made[c].Load()) }

// Release stops the piece keeping forms and returns the bytes it held
// (reserved from its Budget), for the holder to give back. Forms already
// handed out stay valid. It never blocks on a form being made.
func (p *Piece) Release() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	n := p.held
	p.held = 0
	for i := range p.forms {
		p.forms[i].Store(nil)
	}
	return n
}

// form returns the piece's form in c (Gzip, Zstd or Brotli), making it if
// it is not kept yet.
func (p *Piece) form(c Coding) []byte {
	if f := p.forms[c].Load(); f != nil {
		return *f
	}
	p.making[c].Lock()
	defer p.making[c].Unlock()
	if f := p.forms[c].Load(); f != nil {
		return *f // made while this one waited
	}
	var f []byte
	switch c {
	case Gzip:
		f = gzipMember(p.raw)
	case Zstd:
		f = pieceZstd.EncodeAll(p.raw, make([]byte, 0, len(p.raw)/8))
	case Brotli:
		var b bytes.Buffer
		w := brotli.NewWriterLevel(&b, pieceBrQuality)
		w.Write(p.raw)
		w.Close()
		f = b.Bytes()
	}
	p.made[c].Add(1)
	p.keep(c, f)
	return f
}

// keep keeps form f of c if the piece is still held and its budget allows.
func (p *Piece) keep(c Coding, f []byte) {
	n := int64(cap(f))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone || p.budget == nil || !p.budget.Reserve(n) {
		return
	}
	p.forms[c].Store(&f)
	p.held += n
}

// gzipHeader is a gzip member's header: no name, no time, unknown OS.
var gzipHeader = [10]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// gzipFinal is an empty final deflate block (fixed Huffman codes).
var gzipFinal = [2]byte{0x03, 0x00}

// gzipMember compresses raw into a whole gzip member whose deflate data,
// before the final empty block, end with a sync flush (see Piece).
func gzipMember(raw []byte) []byte {
	b := bytes.NewBuffer(make([]byte, 0, len(raw)/8+64))
	b.Write(gzipHeader[:])
	fw := flateWriters[pieceFlateLevel].Get().(*flate.Writer)
	fw.Reset(b)
	fw.Write(raw)
	fw.Flush()
	fw.Reset(nil)
	flateWriters[pieceFlateLevel].Put(fw)
	b.Write(gzipFinal[:])
	var t [8]byte
	binary.LittleEndian.PutUint32(t[:4], crc32.ChecksumIEEE(raw))
	binary.LittleEndian.PutUint32(t[4:], uint32(len(raw)))
	b.Write(t[:])
	return b.Bytes()
}

// splice is a gzip member's deflate data without its final block, and the
// CRC and length of what they decode to.
func splice(member []byte) (data []byte, crc uint32, n uint32) {
	t := member[len(member)-8:]
	return member[len(gzipHeader) : len(member)-8-len(gzipFinal)], binary.LittleEndian.Uint32(t), binary.LittleEndian.Uint32(t[4:])
}

// zstdWindow bounds the window of every zstd frame: RFC 9659 has decoders
// refuse more than 8 MiB.
const zstdWindow = 8 << 20

// pieceZstd encodes pieces (EncodeAll may be called concurrently).
var pieceZstd = func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(pieceZstdLevel), zstd.WithWindowSize(zstdWindow))
	if err != nil {
		panic(err)
	}
	return e
}()

// flateWriters pool deflate compressors per level (1 to 9).
var flateWriters [10]sync.Pool

func init() {
	for level := range flateWriters {
		flateWriters[level].New = func() any {
			w, err := flate.NewWriter(nil, max(level, 1))
			if err != nil {
				panic(err)
			}
			return w
		}
	}
}
