package remote

// The batch protocol between a Client and a Handler, for remote fragments
// declared with `batch: true`.
//
// Request: POST {base}_batch, where {base} is the fragment URL up to the
// last "/" of its path (http://host:port/fragments/ for fragmentd). The
// body is one item a line, each the fragment URL as the configuration's
// template made it, relative to {base}: "score?match=m0042\n". Nothing but
// those URLs is ever sent.
//
// Response: 200, Content-Type application/vnd.broadsheet.batch, then one
// frame per item, in the order the items are ready:
//
//	F <index> <status> <nheaders> <bodylen>\n
//	<Name>: <value>\n            (nheaders times)
//	<body>                        (bodylen bytes)
//
// index is the item's line, from 0; the headers are those of the item's
// single GET that the client uses (Content-Type, Cache-Control, Link,
// Age). The response ends after the last frame; an item without a frame
// at the end failed.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits of the protocol.
const (
	// DefaultMaxBatchItems is the default cap on the items of one batch
	// (ServerOptions.MaxBatchItems); the Client sends no more than this.
	DefaultMaxBatchItems = 256
	// DefaultMaxBatchBytes is the default cap on a batch request's body.
	DefaultMaxBatchBytes = 1 << 20
	// maxBatchLine caps one item's URL, as servers cap a request line.
	maxBatchLine = 8 << 10
	// maxFrameHeaders caps the headers of one frame.
	maxFrameHeaders = 32
	// maxFrameLine caps a frame's first line and each of its header lines.
	maxFrameLine = 8 << 10
)

// batchType is the Content-Type of a batch response.
const batchType = "application/vnd.broadsheet.batch"

var hdrBatch = []string{batchType}

// batchItem is one item of a batch request: a fragment name and the URL
// whose query holds its params.
type batchItem struct {
	name string
	u    *url.URL
}

var errTooManyItems = errors.New("too many items")

// parseBatchRequest reads a batch request's body: one relative URL
// "name?query" a line, the last line ending in "\n" or not. It refuses an
// empty body, an empty line, a line over maxBatchLine, a control
// character or space, a name that is empty, badly escaped or holds a "/",
// a "#", and more than max items (errTooManyItems).
func parseBatchRequest(body []byte, max int) ([]batchItem, error) {
	s := string(body)
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil, errors.New("no items")
	}
	if n := strings.Count(s, "\n") + 1; n > max {
		return nil, errTooManyItems
	}
	var items []batchItem
	for i := 0; s != ""; i++ {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		if err := checkBatchLine(line); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		path, query, _ := strings.Cut(line, "?")
		name, err := url.PathUnescape(path)
		if err != nil || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("item %d: invalid fragment name", i)
		}
		items = append(items, batchItem{name: name, u: &url.URL{RawQuery: query}})
	}
	return items, nil
}

func checkBatchLine(line string) error {
	switch {
	case line == "":
		return errors.New("empty line")
	case len(line) > maxBatchLine:
		return errors.New("line too long")
	}
	for i := 0; i < len(line); i++ {
		if c := line[i]; c <= ' ' || c == 0x7f || c == '#' {
			return errors.New("invalid character")
		}
	}
	return nil
}

// batch serves POST /fragments/_batch.
func (s *server) batch(w http.ResponseWriter, r *http.Request) {
	items, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	ready := s.runItems(r.Context(), items)
	h := w.Header()
	h["Content-Type"] = hdrBatch
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNosniff
	w.WriteHeader(http.StatusOK)
	s.writeFrames(w, ready, len(items))
}

// batchText answers a batch request that cannot be served with code and
// msg, as text.
func batchText(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h["Content-Type"] = hdrText
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNosniff
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// readBatch reads and parses r's batch, bounded in bytes and items; when
// it cannot, it answers r (413 or 400) and reports false.
func (s *server) readBatch(w http.ResponseWriter, r *http.Request) ([]batchItem, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.o.MaxBatchBytes)))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			batchText(w, http.StatusRequestEntityTooLarge, "batch body too large")
		} else {
			batchText(w, http.StatusBadRequest, "batch body unreadable")
		}
		return nil, false
	}
	items, err := parseBatchRequest(body, s.o.MaxBatchItems)
	switch {
	case errors.Is(err, errTooManyItems):
		batchText(w, http.StatusRequestEntityTooLarge, "too many items")
		return nil, false
	case err != nil:
		batchText(w, http.StatusBadRequest, "bad batch: "+err.Error())
		return nil, false
	}
	return items, true
}

// itemDone is a batch item's outcome: its index, what it rendered and how
// long it took.
type itemDone struct {
	i int
	o outcome
	d time.Duration
}

// runItems renders every item in its own goroutine under ctx and returns
// the channel their outcomes arrive on, in the order they finish; it has
// room for all of them, so that no runner ever blocks.
func (s *server) runItems(ctx context.Context, items []batchItem) <-chan itemDone {
	ready := make(chan itemDone, len(items))
	for i, it := range items {
		go func() {
			t0 := time.Now()
			o := outcome{name: it.name, status: http.StatusInternalServerError, msg: "fragment failed"}
			defer func() {
				// Not the handler's goroutine: net/http would not recover
				// a panic here (render recovers the fragment's own).
				if v := recover(); v != nil {
					s.o.Logger.Error("fragmentd: batch item panicked", "fragment", it.name, "panic", fmt.Sprint(v))
				}
				ready <- itemDone{i, o, time.Since(t0)}
			}()
			o = s.run(ctx, it.name, it.u)
		}()
	}
	return ready
}

// writeFrames writes the n outcomes from ready as frames as they come,
// whatever is ready at once in one write and flush; after a write error it
// only releases them.
func (s *server) writeFrames(w http.ResponseWriter, ready <-chan itemDone, n int) {
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 32<<10)
	var werr error
	write := func(d itemDone) {
		if werr == nil {
			werr = writeFrame(bw, d.i, &d.o)
		}
		d.o.release()
		if s.o.Observe != nil {
			s.o.Observe(d.o.name, d.o.status, d.d)
		}
	}
	for k := 0; k < n; {
		write(<-ready)
		k++
		// Whatever else is ready goes in the same write.
		for more := true; more && k < n; {
			select {
			case d := <-ready:
				write(d)
				k++
			default:
				more = false
			}
		}
		if werr == nil {
			if werr = bw.Flush(); werr == nil {
				werr = rc.Flush()
			}
		}
	}
}

// writeFrame writes the frame of item i.
func writeFrame(w *bufio.Writer, i int, o *outcome) error {
	var hdr [][2]string
	add := func(k string, vs []string) {
		for _, v := range vs {
			if v != "" && !strings.ContainsAny(v, "\r\n") {
				hdr = append(hdr, [2]string{k, v})
			}
		}
	}
	body := o.html
	if o.status == http.StatusOK {
		add("Content-Type", hdrHTML)
		add("Cache-Control", o.cacheControl)
		add("Link", o.links)
	} else {
		add("Content-Type", hdrText)
		add("Cache-Control", hdrNoStore)
		body = []byte(o.msg + "\n")
	}
	if len(hdr) > maxFrameHeaders {
		hdr = hdr[:maxFrameHeaders]
	}
	b := w.AvailableBuffer()
	b = append(b, "F "...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(o.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(hdr)), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, '\n')
	for _, kv := range hdr {
		b = append(b, kv[0]...)
		b = append(b, ": "...)
		b = append(b, kv[1]...)
		b = append(b, '\n')
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// frame is one item's result as read from a batch response.
type frame struct {
	index  int
	status int
	// The headers the client uses; others are ignored.
	contentType, age string
	cacheControl     []string
	link             []string
	body             []byte
	oversized        bool // the body was over the cap: skipped, not kept
}

// readFrame reads the next frame of a batch of n items from r, keeping a
// body of at most max bytes (a longer one is read past and marked
// oversized). It returns io.EOF at a clean end between frames, and an
// error for anything malformed or cut short.
func readFrame(r *bufio.Reader, n, max int) (frame, error) {
	var f frame
	line, err := readLine(r)
	if err != nil {
		if err == io.EOF {
			return f, io.EOF
		}
		return f, err
	}
	rest, ok := strings.CutPrefix(line, "F ")
	if !ok {
		return f, errors.New("batch: bad frame")
	}
	var nums [4]int64
	for k := range nums {
		var field string
		if k < 3 {
			field, rest, ok = strings.Cut(rest, " ")
			if !ok {
				return f, errors.New("batch: bad frame")
			}
		} else {
			field = rest
		}
		v, err := parseUint(field)
		if err != nil {
			return f, errors.New("batch: bad frame")
		}
		nums[k] = v
	}
	idx, status, nh, blen := nums[0], nums[1], nums[2], nums[3]
	switch {
	case idx >= int64(n):
		return f, errors.New("batch: frame index out of range")
	case status < 100 || status > 999:
		return f, errors.New("batch: bad frame status")
	case nh > maxFrameHeaders:
		return f, errors.New("batch: too many frame headers")
	case blen > 1<<40:
		return f, errors.New("batch: bad frame length")
	}
	f.index, f.status = int(idx), int(status)
	for range nh {
		l, err := readLine(r)
		if err != nil {
			return f, unexpected(err)
		}
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			return f, errors.New("batch: bad frame header")
		}
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type":
			f.contentType = v
		case "Cache-Control":
			f.cacheControl = append(f.cacheControl, v)
		case "Link":
			f.link = append(f.link, v)
		case "Age":
			f.age = v
		}
	}
	if blen > int64(max) {
		f.oversized = true
		if _, err := io.CopyN(io.Discard, r, blen); err != nil {
			return f, unexpected(err)
		}
		return f, nil
	}
	if blen > 0 {
		f.body = make([]byte, blen)
		if _, err := io.ReadFull(r, f.body); err != nil {
			return f, unexpected(err)
		}
	}
	return f, nil
}

// readLine reads one line of at most maxFrameLine bytes, without its
// "\n". A line cut short by the end is an error, not a line.
func readLine(r *bufio.Reader) (string, error) {
	b, err := r.ReadSlice('\n')
	switch {
	case err == nil:
		if len(b) > maxFrameLine+1 {
			return "", errors.New("batch: frame line too long")
		}
		return string(b[:len(b)-1]), nil
	case err == bufio.ErrBufferFull:
		return "", errors.New("batch: frame line too long")
	case err == io.EOF && len(b) > 0:
		return "", io.ErrUnexpectedEOF
	}
	return "", err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseUint parses a decimal of 1 to 13 digits, nothing else (no sign).
func parseUint(s string) (int64, error) {
	if s == "" || len(s) > 13 {
		return 0, errors.New("bad number")
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("bad number")
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}
