package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/broadsheet/broadsheet/composer/compress"
)

// hashLen is the length of a fingerprint: hex digits of the SHA-256 of
// the file's content.
const hashLen = 8

// Cache-Control of fingerprinted and of plain names.
const (
	immutable  = "public, max-age=31536000, immutable"
	revalidate = "no-cache"
)

// file is one static file with its compressed forms.
type file struct {
	name, fingerprinted, hash, contentType string
	// forms maps a coding to the body in it; Identity is always there.
	forms map[compress.Coding][]byte
	// offered lists the compressed forms kept, in codings' order.
	offered []compress.Coding
}

// codings are the compressed forms made, in the order preferred when a
// client accepts several equally. No zstd: for files this small it is no
// smaller than gzip, and every browser that takes zstd takes br.
var codings = []compress.Coding{compress.Brotli, compress.Gzip}

// files indexes the static files by plain name; made once.
var files = sync.OnceValue(func() map[string]*file {
	out := map[string]*file{}
	_ = fs.WalkDir(FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(FS, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		f := &file{name: name, hash: hex.EncodeToString(sum[:])[:hashLen], forms: map[compress.Coding][]byte{compress.Identity: data}}
		ext := path.Ext(name)
		f.fingerprinted = strings.TrimSuffix(name, ext) + "." + f.hash + ext
		f.contentType = mime.TypeByExtension(ext)
		for _, c := range codings {
			if z := compressed(c, data); len(z) < len(data) {
				f.forms[c] = z
				f.offered = append(f.offered, c)
			}
		}
		out[name] = f
		return nil
	})
	return out
})

// compressed returns data in coding c, at the coding's best ratio: it is
// done once per file. Brotli's window is 64 KiB, enough for these files:
// its default of 4 MiB only costs time at start.
func compressed(c compress.Coding, data []byte) []byte {
	var b bytes.Buffer
	var w io.WriteCloser
	switch c {
	case compress.Gzip:
		w, _ = gzip.NewWriterLevel(&b, gzip.BestCompression)
	case compress.Brotli:
		w = brotli.NewWriterOptions(&b, brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: 16})
	default:
		return nil
	}
	_, _ = w.Write(data)
	_ = w.Close()
	return b.Bytes()
}

// Path returns the URL path of the static file name ("site.css") under its
// fingerprinted name: "/static/site.3f9a1c2b.css". For a name that is not
// a static file it returns "/static/" + name, which answers 404.
func Path(name string) string {
	if f := files()[name]; f != nil {
		return "/static/" + f.fingerprinted
	}
	return "/static/" + name
}

// lookup finds the file a request path names (without /static/), and
// whether the name is the current fingerprinted one.
func lookup(p string) (f *file, current bool) {
	all := files()
	if f := all[p]; f != nil {
		return f, false
	}
	// name.HASH.ext: the hash of this version or of another.
	ext := path.Ext(p)
	stem := strings.TrimSuffix(p, ext)
	dot := strings.LastIndexByte(stem, '.')
	if dot < 0 || len(stem)-dot-1 != hashLen || !isHex(stem[dot+1:]) {
		return nil, false
	}
	f = all[stem[:dot]+ext]
	if f == nil {
		return nil, false
	}
	return f, stem[dot+1:] == f.hash
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Handler serves the static files, for a mount with the /static/ prefix
// stripped (http.StripPrefix). It answers GET and HEAD, If-None-Match
// (304) and Range on the chosen form, 404 for anything that is not a
// file, and never lists a directory. It is safe for concurrent use.
func Handler() http.Handler {
	files() // compressed forms are made at start, not by a first reader
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, current := lookup(r.URL.Path)
		if f == nil {
			http.NotFound(w, r)
			return
		}
		coding := compress.NegotiateAmong(r.Header.Values("Accept-Encoding"), f.offered)
		h := w.Header()
		h.Set("Vary", "Accept-Encoding")
		if current {
			h.Set("Cache-Control", immutable)
		} else {
			h.Set("Cache-Control", revalidate)
		}
		if f.contentType != "" {
			h.Set("Content-Type", f.contentType)
		}
		etag := `"` + f.hash
		if coding != compress.Identity {
			h.Set("Content-Encoding", coding.String())
			etag += "-" + coding.String()
		}
		h.Set("ETag", etag+`"`)
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.forms[coding]))
	})
}
