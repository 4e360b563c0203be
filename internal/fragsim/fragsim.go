// Package fragsim is a plain HTTP fragment service that knows nothing of
// Broadsheet, for benchmarks of remote fragments: it answers GET
// /frag/{i} with a small piece of HTML after a fixed latency, as another
// team's service (Tailor-, ESI- or SSI-style) would. cmd/fragsim serves it;
// cmd/benchsuite starts that binary, kills it and restarts it.
//
// Every SlowEvery-th fragment (i = SlowEvery-1, 2·SlowEvery-1, …) is slow:
// it answers after SlowLatency instead of Latency, with SlowCacheControl
// instead of CacheControl. A request whose client goes away before its
// latency has passed is answered with nothing and counted as cancelled.
//
// A fragment's body is
//
//	<div class="fragsim" data-fragsim="I" data-gen="G">…</div>
//
// padded to Bytes bytes, so that a page composed of them can be checked
// for which fragments it holds (the data-fragsim attribute, see Marker) and
// from which run of the service (the data-gen attribute, see GenMarker).
package fragsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"
)

// Marker is the text every fragment body carries exactly once: a page's
// count of it is the number of fragsim fragments it holds.
const Marker = `data-fragsim="`

// GenMarker is the text every fragment body of a service started with
// Options.Gen gen carries exactly once.
func GenMarker(gen string) string { return `data-gen="` + gen + `"` }

// MaxIndex is the largest fragment index served; a larger one is a 404.
const MaxIndex = 1_000_000_000

// Options describe the fragments served. The zero value serves every
// fragment at once, with no Cache-Control, as small as it can be.
type Options struct {
	// Latency is how long a fragment takes to answer.
	Latency time.Duration
	// SlowEvery makes one fragment in SlowEvery slow (0: none).
	SlowEvery int
	// SlowLatency is how long a slow fragment takes to answer.
	SlowLatency time.Duration
	// Bytes is the length of a fragment's body; a body is never shorter
	// than its markup needs.
	Bytes int
	// CacheControl is the Cache-Control header of a fragment that is not
	// slow (empty: none).
	CacheControl string
	// SlowCacheControl is the Cache-Control header of a slow fragment
	// (empty: none).
	SlowCacheControl string
	// Gen names this run of the service in every body (data-gen); it must
	// match ValidGen. Empty means "1".
	Gen string
	// Wait waits d, or less when ctx ends first, and reports whether d
	// passed. Nil means a timer; tests replace it to see the latencies
	// asked for without waiting for them.
	Wait func(ctx context.Context, d time.Duration) bool
}

// ValidGen is the form of Options.Gen: it is written into HTML attributes
// and searched for in pages, so it is kept plain.
var ValidGen = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Stats are the counters of a Server since it was made.
type Stats struct {
	// Connections counts the connections accepted, when the http.Server
	// reports them to ConnState.
	Connections int64 `json:"connections"`
	// Requests counts fragment requests with a valid index.
	Requests int64 `json:"requests"`
	// Slow counts those that were slow.
	Slow int64 `json:"slow"`
	// Cancelled counts those whose client went away before the answer.
	Cancelled int64 `json:"cancelled"`
	// Served counts those answered.
	Served int64 `json:"served"`
}

// Server serves fragments, /healthz and /stats (Stats as JSON). It is safe
// for concurrent use.
type Server struct {
	o   Options
	mux *http.ServeMux

	conns, requests, slow, cancelled, served atomic.Int64
}

// New checks o and returns a Server for it.
func New(o Options) (*Server, error) {
	switch {
	case o.Latency < 0, o.SlowLatency < 0:
		return nil, errors.New("fragsim: negative latency")
	case o.SlowEvery < 0:
		return nil, errors.New("fragsim: negative slow-every")
	case o.Bytes < 0:
		return nil, errors.New("fragsim: negative body size")
	}
	if o.Gen == "" {
		o.Gen = "1"
	}
	if !ValidGen.MatchString(o.Gen) {
		return nil, fmt.Errorf("fragsim: gen %q: want 1 to 32 letters, digits, '-' or '_'", o.Gen)
	}
	if o.Wait == nil {
		o.Wait = wait
	}
	s := &Server{o: o, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /frag/{i}", s.fragment)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	return s, nil
}

// ServeHTTP serves the fragments, /healthz and /stats.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Connections: s.conns.Load(), Requests: s.requests.Load(), Slow: s.slow.Load(), Cancelled: s.cancelled.Load(), Served: s.served.Load()}
}

// ConnState counts new connections; set it as the http.Server's
// ConnState.
func (s *Server) ConnState(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		s.conns.Add(1)
	}
}

// IsSlow reports whether fragment i is one of the slow ones.
func (o Options) IsSlow(i int) bool { return o.SlowEvery > 0 && i%o.SlowEvery == o.SlowEvery-1 }

func (s *Server) fragment(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("i")
	i, err := strconv.Atoi(raw)
	if err != nil || i < 0 || i > MaxIndex || strconv.Itoa(i) != raw {
		http.Error(w, "fragsim: no such fragment: want /frag/{i} with i a number from 0 to 1000000000", http.StatusNotFound)
		return
	}
	s.requests.Add(1)
	latency, cc := s.o.Latency, s.o.CacheControl
	if s.o.IsSlow(i) {
		s.slow.Add(1)
		latency, cc = s.o.SlowLatency, s.o.SlowCacheControl
	}
	if latency > 0 && !s.o.Wait(r.Context(), latency) {
		s.cancelled.Add(1)
		return
	}
	body := Body(i, s.o.Gen, s.o.Bytes)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if cc != "" {
		h.Set("Cache-Control", cc)
	}
	_, _ = w.Write(body)
	s.served.Add(1)
}

// filler pads bodies to their size.
const filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "

// Body returns fragment i's HTML for the service's run gen, padded with
// text to size bytes when its markup is shorter.
func Body(i int, gen string, size int) []byte {
	b := make([]byte, 0, max(size, 64))
	b = append(b, `<div class="fragsim" `...)
	b = append(b, Marker...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `" `...)
	b = append(b, GenMarker(gen)...)
	b = append(b, '>')
	const end = "</div>"
	for pad := size - len(b) - len(end); pad > 0; {
		n := min(pad, len(filler))
		b = append(b, filler[:n]...)
		pad -= n
	}
	return append(b, end...)
}

func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
