package remote

// The frames of a batch response (batch.go): written by the server, read
// by the client.

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

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
	contentType string
	cache       CacheHeaders
	link        []string
	body        []byte
	oversized   bool // the body was over the cap: skipped, not kept
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
	nh, blen, err := f.parseHead(line, n)
	if err != nil {
		return f, err
	}
	if err := f.readHeaders(r, nh); err != nil {
		return f, err
	}
	err = f.readBody(r, blen, max)
	return f, err
}

// parseHead reads a frame's first line, "F <index> <status> <nheaders>
// <bodylen>", of a batch of n items into f, and returns the number of
// header lines and the length of the body that follow.
func (f *frame) parseHead(line string, n int) (nh, blen int64, err error) {
	rest, ok := strings.CutPrefix(line, "F ")
	if !ok {
		return 0, 0, errors.New("batch: bad frame")
	}
	var nums [4]int64
	for k := range nums {
		var field string
		if k < 3 {
			field, rest, ok = strings.Cut(rest, " ")
			if !ok {
				return 0, 0, errors.New("batch: bad frame")
			}
		} else {
			field = rest
		}
		v, err := parseUint(field)
		if err != nil {
			return 0, 0, errors.New("batch: bad frame")
		}
		nums[k] = v
	}
	idx, status, nh, blen := nums[0], nums[1], nums[2], nums[3]
	switch {
	case idx >= int64(n):
		return 0, 0, errors.New("batch: frame index out of range")
	case status < 100 || status > 999:
		return 0, 0, errors.New("batch: bad frame status")
	case nh > maxFrameHeaders:
		return 0, 0, errors.New("batch: too many frame headers")
	case blen > 1<<40:
		return 0, 0, errors.New("batch: bad frame length")
	}
	f.index, f.status = int(idx), int(status)
	return nh, blen, nil
}

// readHeaders reads a frame's nh header lines, keeping those the client
// uses.
func (f *frame) readHeaders(r *bufio.Reader, nh int64) error {
	for range nh {
		l, err := readLine(r)
		if err != nil {
			return unexpected(err)
		}
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			return errors.New("batch: bad frame header")
		}
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type":
			f.contentType = v
		case "Cache-Control":
			f.cache.CacheControl = append(f.cache.CacheControl, v)
		case "Link":
			f.link = append(f.link, v)
		case "Age":
			f.cache.Age = v
		case "Expires":
			f.cache.Expires = v
		case "Date":
			f.cache.Date = v
		case "Vary":
			f.cache.Vary = append(f.cache.Vary, v)
		case "Set-Cookie":
			f.cache.SetCookie = true
		}
	}
	return nil
}

// readBody reads a frame's body of blen bytes, keeping it if it is at
// most max bytes long, else reading past it and marking f oversized.
func (f *frame) readBody(r *bufio.Reader, blen int64, max int) error {
	if blen > int64(max) {
		f.oversized = true
		if _, err := io.CopyN(io.Discard, r, blen); err != nil {
			return unexpected(err)
		}
		return nil
	}
	if blen > 0 {
		f.body = make([]byte, blen)
		if _, err := io.ReadFull(r, f.body); err != nil {
			return unexpected(err)
		}
	}
	return nil
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
