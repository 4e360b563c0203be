package composer

import (
	"net/http"

	"github.com/broadsheet/broadsheet/composer/compress"
)

// Compression.
//
// A page is sent in the content coding its request prefers (see
// compress.Negotiate: gzip, zstd or br, else as it is), always with "Vary:
// Accept-Encoding", and flushed at the same points as uncompressed. What
// the writer writes is compressed as it goes, but stitched subtrees and
// pages kept whole (stitch.go) carry a compress.Piece: their
// compressed forms are made once, the first time a page in that coding
// needs them, kept within the stitched bytes (-stitch-mb), and spliced
// into the page as they are — so a warm page costs no compression of its
// cached parts, and a page kept whole is one write of its kept form.

// encode wraps w for the coding hr asks for. The returned Writer, when not
// nil, must be handed to encoded once the page is written.
func (c *Composer) encode(w http.ResponseWriter, hr *http.Request) (http.ResponseWriter, *compress.Writer) {
	return compress.Wrap(w, compress.Negotiated(hr))
}

// encoded ends enc's body and counts what it compressed per request.
func (c *Composer) encoded(enc *compress.Writer) {
	c.stats.Compressed.Add(enc.Compressed)
	enc.Close()
}

// writeWhole writes a page kept whole, its kept compressed form if the
// page is coded, and status 200.
func writeWhole(w http.ResponseWriter, p *compress.Piece) {
	if enc, ok := w.(*compress.Writer); ok {
		_ = enc.WriteWhole(p)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(p.Raw())
}
