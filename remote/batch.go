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
	"errors"
	"fmt"
	"net/url"
	"strings"
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
