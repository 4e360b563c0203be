package compress

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// Levels of what a page compresses per request (its dynamic parts): fast,
// since they are compressed for every reader. Deflate is klauspost's
// stateless compressor, which holds no tables between calls: a deflate
// writer at any level allocates about 1 MB, which 200 pages starting at
// once would each take from the heap; the stateless one compresses each
// 32 KiB of text (or what a flush ends) on its own, which costs some ratio
// on parts that are not kept precompressed. (Given a dictionary it copies
// it with the text on every call: 225 KB a 240 KB page.)
const (
	dynamicZstdLevel = zstd.SpeedFastest
	dynamicBrQuality = 3
	deflateChunk     = 32 << 10 // text compressed at a time
)

// Writer is an http.ResponseWriter that sends the body in one coding. Bytes
// written with Write are compressed as they come; a Piece written with
// WritePiece is spliced in its precompressed form where the coding allows
// (gzip, zstd), so that a page made of cached pieces costs no compression
// of them. Flush (http.Flusher) pushes everything written so far to the
// client: it ends a deflate or brotli block with a sync flush, or a zstd
// block, at the same points the page is flushed uncompressed.
//
// A status without a body (1xx, 204, 304) is sent as it is, without
// Content-Encoding. Close ends the stream and must be called once, after
// the last write, by the goroutine that wrote; a Writer is not safe for
// concurrent use.
type Writer struct {
	rw     http.ResponseWriter
	coding Coding
	out    *bufio.Writer // the coded bytes, on their way to rw
	header bool          // WriteHeader was called
	plain  bool          // the status has no body: nothing is coded
	wrote  bool          // coded bytes were written (a gzip header at least)
	whole  bool          // a whole form was written: nothing else may be

	// Compressed is the number of bytes compressed per request so far (by
	// Write, and pieces that could not be spliced), for the caller's
	// accounting.
	Compressed int64

	// gzip: the text not compressed yet, the CRC and length of everything.
	in   *[]byte
	crc  uint32
	size uint32
	// zstd: the open frame's encoder; zstdAny is set once a frame was
	// written or opened.
	zw      *zstd.Encoder
	zstdAny bool
	// brotli.
	bw *brotli.Writer
}

// Negotiated returns the coding r asks for (see Negotiate).
func Negotiated(r *http.Request) Coding {
	return Negotiate(r.Header.Values("Accept-Encoding"))
}

// Wrap adds "Vary: Accept-Encoding" to rw's header (the page depends on
// the field whatever the coding) and, for a compressed coding c, returns a
// Writer sending rw's body in c; for Identity it returns rw itself and a
// nil Writer. A Writer must be closed (Close).
func Wrap(rw http.ResponseWriter, c Coding) (http.ResponseWriter, *Writer) {
	rw.Header().Add("Vary", "Accept-Encoding")
	if c == Identity || c >= numCodings {
		return rw, nil
	}
	w := writers.Get().(*Writer)
	w.rw, w.coding = rw, c
	return w, w
}

var writers = sync.Pool{New: func() any { return new(Writer) }}

// outs buffer coded bytes: a page's compressed dynamic parts come out of
// the compressors in small writes, each of which would otherwise be a
// chunk of the response.
var outs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}

// Header returns the underlying header map.
func (w *Writer) Header() http.Header { return w.rw.Header() }

// Unwrap returns the underlying ResponseWriter (http.ResponseController).
func (w *Writer) Unwrap() http.ResponseWriter { return w.rw }

// WriteHeader sends the status and header, with Content-Encoding when the
// status has a body. A strong ETag set by then gets the coding appended
// ("v1" becomes "v1-gzip"): a strong validator names one representation.
func (w *Writer) WriteHeader(status int) {
	if w.header {
		return
	}
	w.header = true
	h := w.rw.Header()
	if status < 200 || status == http.StatusNoContent || status == http.StatusNotModified {
		w.plain = true
	} else {
		if !w.whole {
			h.Del("Content-Length") // of the uncompressed body, if anything
		}
		h.Set("Content-Encoding", w.coding.String())
	}
	if et := h.Get("ETag"); w.coding != Identity && strings.HasPrefix(et, `"`) && strings.HasSuffix(et, `"`) && len(et) > 1 {
		h.Set("ETag", et[:len(et)-1]+"-"+w.coding.String()+`"`)
	}
	w.rw.WriteHeader(status)
}

// start makes ready to write coded bytes.
func (w *Writer) start() {
	if !w.header {
		w.WriteHeader(http.StatusOK)
	}
	if w.wrote || w.plain {
		return
	}
	w.wrote = true
	w.out = outs.Get().(*bufio.Writer)
	w.out.Reset(w.rw)
	if w.coding == Gzip {
		w.out.Write(gzipHeader[:])
	}
}

// Write compresses p into the body.
func (w *Writer) Write(p []byte) (int, error) {
	if w.start(); w.plain {
		return w.rw.Write(p)
	}
	if w.whole {
		return 0, errWhole
	}
	w.Compressed += int64(len(p))
	switch w.coding {
	case Gzip:
		if w.in == nil {
			w.in = chunks.Get().(*[]byte)
		}
		w.crc = crc32.Update(w.crc, crc32.IEEETable, p)
		w.size += uint32(len(p))
		for n := 0; n < len(p); {
			k := copy((*w.in)[len(*w.in):deflateChunk], p[n:])
			*w.in = (*w.in)[:len(*w.in)+k]
			n += k
			if len(*w.in) == deflateChunk {
				if err := w.deflate(); err != nil {
					return n, err
				}
			}
		}
		return len(p), nil
	case Zstd:
		if w.zw == nil {
			w.zw = zstdWriters.Get().(*zstd.Encoder)
			w.zw.Reset(w.out)
			w.zstdAny = true
		}
		return w.zw.Write(p)
	default:
		if w.bw == nil {
			w.bw = brWriters.Get().(*brotli.Writer)
			w.bw.Reset(w.out)
		}
		return w.bw.Write(p)
	}
}

var errWhole = errors.New("compress: write after a whole body")

// deflate compresses the pending text into deflate blocks ended with a
// sync flush (StatelessDeflate aligns them with an empty stored block), so
// that a piece, a flush or the final block may follow.
func (w *Writer) deflate() error {
	if w.in == nil || len(*w.in) == 0 {
		return nil
	}
	err := flate.StatelessDeflate(w.out, *w.in, false, nil)
	*w.in = (*w.in)[:0]
	return err
}

// chunks hold a gzip Writer's pending text.
var chunks = sync.Pool{New: func() any {
	b := make([]byte, 0, deflateChunk)
	return &b
}}

// WritePiece writes p's bytes into the body: its precompressed form,
// spliced, in gzip and zstd (made once, when first needed, see Piece);
// compressed with the rest of the page in brotli.
func (w *Writer) WritePiece(p *Piece) error {
	if w.start(); w.plain {
		_, err := w.rw.Write(p.raw)
		return err
	}
	switch w.coding {
	case Gzip:
		data, crc, n := splice(p.form(Gzip))
		w.deflate() // ends the text's blocks: nothing after the piece refers to them
		w.crc = crc32Combine(w.crc, crc, int64(n))
		w.size += n
		_, err := w.out.Write(data)
		return err
	case Zstd:
		f := p.form(Zstd)
		w.zstdAny = true
		if w.zw != nil {
			w.zw.Close() // ends the open frame; the next write opens one
			w.zw.Reset(nil)
			zstdWriters.Put(w.zw)
			w.zw = nil
		}
		_, err := w.out.Write(f)
		return err
	}
	_, err := w.Write(p.raw)
	return err
}

// WriteWhole writes p as the whole body, in its precompressed form in any
// coding, with its Content-Length. Nothing may be written before or after.
func (w *Writer) WriteWhole(p *Piece) error {
	if w.header || w.wrote {
		return w.WritePiece(p)
	}
	f := p.form(w.coding)
	w.whole, w.wrote = true, true
	w.rw.Header().Set("Content-Length", strconv.Itoa(len(f)))
	w.WriteHeader(http.StatusOK)
	_, err := w.rw.Write(f)
	return err
}

// Flush sends what was written so far to the client (http.Flusher).
func (w *Writer) Flush() {
	if w.start(); !w.plain && !w.whole {
		switch {
		case w.coding == Gzip:
			w.deflate()
		case w.zw != nil:
			w.zw.Flush()
		case w.bw != nil:
			w.bw.Flush()
		}
		w.out.Flush()
	}
	if f, ok := w.rw.(http.Flusher); ok {
		f.Flush()
	}
}

// Close ends the body (the final block and trailer of the coding; a body
// of no bytes is still a valid stream, sent with status 200 if no status
// was) and returns the Writer to its pool; w must not be used after.
func (w *Writer) Close() error {
	var err error
	if w.start(); !w.plain && !w.whole {
		switch w.coding {
		case Gzip:
			w.deflate()
			w.out.Write(gzipFinal[:])
			var t [8]byte
			binary.LittleEndian.PutUint32(t[:4], w.crc)
			binary.LittleEndian.PutUint32(t[4:], w.size)
			w.out.Write(t[:])
		case Zstd:
			switch {
			case w.zw != nil:
				w.zw.Close()
			case !w.zstdAny:
				w.out.Write(emptyZstd) // a body of no bytes is still a frame
			}
		case Brotli:
			if w.bw == nil {
				w.bw = brWriters.Get().(*brotli.Writer)
				w.bw.Reset(w.out)
			}
			w.bw.Close()
		}
		err = w.out.Flush()
	}
	w.release()
	return err
}

// emptyZstd is a zstd frame of no bytes.
var emptyZstd = func() []byte {
	e, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true))
	if err != nil {
		panic(err)
	}
	return e.EncodeAll(nil, nil)
}()

func (w *Writer) release() {
	if w.in != nil {
		*w.in = (*w.in)[:0]
		chunks.Put(w.in)
	}
	if w.zw != nil {
		w.zw.Reset(nil)
		zstdWriters.Put(w.zw)
	}
	if w.bw != nil {
		w.bw.Reset(nil)
		brWriters.Put(w.bw)
	}
	if w.out != nil {
		w.out.Reset(nil)
		outs.Put(w.out)
	}
	*w = Writer{}
	writers.Put(w)
}

var zstdWriters = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(dynamicZstdLevel), zstd.WithWindowSize(zstdWindow),
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic(err)
	}
	return e
}}

var brWriters = sync.Pool{New: func() any { return brotli.NewWriterLevel(nil, dynamicBrQuality) }}
