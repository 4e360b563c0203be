package compress

import (
	"compress/gzip"
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// NewReader returns a reader of r's bytes decoded from coding c (Identity:
// r itself), for clients and tests: gzip is read by the standard library,
// zstd (every concatenated frame, windows up to 8 MiB as RFC 9659 allows)
// and brotli by the libraries that write them.
func NewReader(c Coding, r io.Reader) (io.ReadCloser, error) {
	switch c {
	case Gzip:
		return gzip.NewReader(r)
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdWindow))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case Brotli:
		return io.NopCloser(brotli.NewReader(r)), nil
	}
	return io.NopCloser(r), nil
}

// Parse returns the coding a Content-Encoding value names ("" is
// Identity), or false for one this package does not write.
func Parse(contentEncoding string) (Coding, bool) {
	if contentEncoding == "" {
		return Identity, true
	}
	c, ok := codingOf(contentEncoding)
	return c, ok
}
