package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/broadsheet/broadsheet/composer/compress"
)

// The markers the composer writes under ?debug=1. Every include is wrapped in
// an element carrying fragmentMarker, and that element also carries
// outcomeMarker followed by the include's outcome and a closing quote.
const (
	fragmentMarker = `data-fragment="`
	outcomeMarker  = `data-outcome="`

	// maxOutcomeLen is the longest outcome value recognised. A longer value
	// is treated as malformed and skipped.
	maxOutcomeLen = 32

	// scanBufferSize is the size of the read buffer each worker reuses.
	scanBufferSize = 64 << 10

	htmlEnd = "</html>"
)

// Outcome names, in report order. Any other value is counted as "other".
var outcomeNames = [...]string{"hit", "stale", "miss", "timeout", "error", "fallback", "placeholder", "other"}

const (
	outcomeOther = len(outcomeNames) - 1
	numOutcomes  = len(outcomeNames)
)

func outcomeIndex(v []byte) int {
	switch string(v) {
	case "hit":
		return 0
	case "stale":
		return 1
	case "miss":
		return 2
	case "timeout":
		return 3
	case "error":
		return 4
	case "fallback":
		return 5
	case "placeholder":
		return 6
	}
	return outcomeOther
}

// pageScan is what scanning one response body found.
type pageScan struct {
	Bytes     int64
	Fragments int64
	Outcomes  [numOutcomes]int64
	// Markers counts the occurrences of each of the scan's markers.
	Markers []int64
	// EndsHTML reports whether the body, with trailing whitespace trimmed,
	// ends with </html>.
	EndsHTML bool
}

// maxMarkerLen bounds the length of a Config.Markers entry.
const maxMarkerLen = 256

// checkMarker returns why m cannot be a Config.Markers entry, or nil. A
// marker that overlaps itself (a proper prefix that is also a suffix, as
// "aa" or "abcab") is refused: its occurrences could overlap, and then a
// count would depend on where the body was split into reads.
func checkMarker(m string) error {
	switch {
	case m == "":
		return errors.New("loadtest: empty marker")
	case len(m) > maxMarkerLen:
		return fmt.Errorf("loadtest: marker of %d bytes, over %d", len(m), maxMarkerLen)
	}
	for k := 1; k < len(m); k++ {
		if m[:k] == m[len(m)-k:] {
			return fmt.Errorf("loadtest: marker %q overlaps itself (%q is both its start and its end)", m, m[:k])
		}
	}
	return nil
}

// tailTracker remembers the last len(htmlEnd) bytes of a stream, ignoring
// trailing whitespace.
type tailTracker struct {
	buf       [len(htmlEnd)]byte
	n         int
	wsPending bool
}

func (t *tailTracker) push(b []byte) {
	if len(b) >= len(t.buf) {
		t.n = copy(t.buf[:], b[len(b)-len(t.buf):])
		return
	}
	if keep := len(t.buf) - len(b); t.n > keep {
		copy(t.buf[:], t.buf[t.n-keep:t.n])
		t.n = keep
	}
	t.n += copy(t.buf[t.n:], b)
}

func (t *tailTracker) write(chunk []byte) {
	trimmed := bytes.TrimRight(chunk, " \t\r\n\f\v")
	if len(trimmed) == 0 {
		if len(chunk) > 0 {
			t.wsPending = true
		}
		return
	}
	if t.wsPending {
		// Whitespace between two non-blank chunks is part of the tail.
		t.push([]byte{' '})
	}
	t.push(trimmed)
	t.wsPending = len(trimmed) < len(chunk)
}

func (t *tailTracker) endsHTML() bool {
	return bytes.EqualFold(t.buf[:t.n], []byte(htmlEnd))
}

// scanBody reads r to EOF through buf, counting fragment and outcome
// markers and the given markers (checked by checkMarker) and checking the
// closing tag, without holding more than len(buf) bytes of the body. It
// uses only bytes.Count and bytes.Index. buf must be longer than every
// marker and than an outcome marker with its value; scanBufferSize is a
// good size.
func scanBody(r io.Reader, buf []byte, markers [][]byte, res *pageScan) error {
	// keep is how many bytes of a window are carried in front of the next
	// read, so that a marker split across two reads is seen exactly once.
	keep := len(fragmentMarker) - 1
	for _, m := range markers {
		keep = max(keep, len(m)-1)
	}
	if len(markers) > 0 && len(res.Markers) != len(markers) {
		res.Markers = make([]int64, len(markers))
	}
	var (
		tail      tailTracker
		carry     int  // bytes at the front of buf kept from the previous read
		pendingAt = -1 // where in buf an outcome marker starts whose value may continue, or -1
	)
	for {
		n, err := r.Read(buf[carry:])
		if n > 0 {
			res.Bytes += int64(n)
			tail.write(buf[carry : carry+n])
			w := buf[:carry+n]

			// Markers lying wholly in the carried bytes were counted by the
			// previous read: count from len(m)-1 bytes before the new ones.
			res.Fragments += countNew(w, carry, []byte(fragmentMarker))
			for i, m := range markers {
				res.Markers[i] += countNew(w, carry, m)
			}

			next := countOutcomes(w, carry, pendingAt, res)
			carry, pendingAt = carryOver(buf, w, keep, next)
		}
		if err == io.EOF {
			res.EndsHTML = tail.endsHTML()
			return nil
		}
		if err != nil {
			res.EndsHTML = tail.endsHTML()
			return err
		}
	}
}

// countOutcomes counts the outcome markers of window w, each with its
// value, from where the previous read left off: the outcome marker pending
// at pendingAt (>= 0), else a marker that may end past the first carry
// bytes. It returns where in w an outcome marker starts whose value may
// continue in the next read, or -1.
func countOutcomes(w []byte, carry, pendingAt int, res *pageScan) (next int) {
	pos := max(0, carry-(len(outcomeMarker)-1))
	if pendingAt >= 0 {
		pos = pendingAt
	}
	next = -1
	for {
		i := bytes.Index(w[pos:], []byte(outcomeMarker))
		if i < 0 {
			break
		}
		start := pos + i
		v := start + len(outcomeMarker)
		q := bytes.IndexByte(w[v:min(len(w), v+maxOutcomeLen+1)], '"')
		if q < 0 {
			if len(w)-v <= maxOutcomeLen {
				// The value may continue in the next read.
				next = start
				break
			}
			pos = v // malformed: no closing quote in reach
			continue
		}
		res.Outcomes[outcomeIndex(w[v:v+q])]++
		pos = v + q + 1
	}
	return next
}

// carryOver copies to the front of buf what the next read must see again
// of window w: its last keep bytes, or from next on (an outcome marker
// whose value may continue, when next >= 0). It returns how many bytes it
// copied and where the pending outcome marker now starts, or -1.
func carryOver(buf, w []byte, keep, next int) (carry, pendingAt int) {
	keepFrom := max(0, len(w)-keep)
	if next >= 0 {
		keepFrom = min(keepFrom, next)
	}
	carry = copy(buf, w[keepFrom:])
	pendingAt = -1
	if next >= 0 {
		pendingAt = next - keepFrom
	}
	return carry, pendingAt
}

// scanResponse scans resp's body with scanBody: decoded first if it has a
// Content-Encoding and decode is set, else as sent, a coded body then
// counting as ending in </html> once read to its end (see
// Config.AcceptEncoding).
func scanResponse(resp *http.Response, buf []byte, markers [][]byte, decode bool, res *pageScan) error {
	ce := resp.Header.Get("Content-Encoding")
	if ce == "" {
		return scanBody(resp.Body, buf, markers, res)
	}
	if !decode {
		err := scanBody(resp.Body, buf, markers, res)
		res.EndsHTML = err == nil
		return err
	}
	c, ok := compress.Parse(ce)
	if !ok {
		return fmt.Errorf("loadtest: Content-Encoding %q", ce)
	}
	r, err := compress.NewReader(c, resp.Body)
	if err != nil {
		return fmt.Errorf("loadtest: %s body: %w", ce, err)
	}
	defer r.Close()
	return scanBody(r, buf, markers, res)
}

// countNew counts the occurrences of m in w that end past its first carry
// bytes.
func countNew(w []byte, carry int, m []byte) int64 {
	return int64(bytes.Count(w[max(0, carry-(len(m)-1)):], m))
}
