package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
)

// Page is a response captured by FetchPage and replayed by FloorServer.
type Page struct {
	// RequestURI is the path and query the page was fetched with; the floor
	// server serves the page at the same RequestURI.
	RequestURI string
	// ContentType is the original Content-Type header, possibly empty.
	ContentType string
	// Chunked reports whether the original response had no Content-Length
	// (it was streamed with chunked transfer encoding).
	Chunked bool
	// Body is the complete response body.
	Body []byte
}

// FetchPage fetches url once with client (NewClient's default if nil) and
// captures the response. A non-2xx status is an error.
func FetchPage(ctx context.Context, client *http.Client, url string) (Page, error) {
	if client == nil {
		client = NewClient(0)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Page{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Page{}, fmt.Errorf("loadtest: reading %s: %w", url, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Page{}, fmt.Errorf("loadtest: fetching %s: status %s", url, resp.Status)
	}
	return Page{
		RequestURI:  req.URL.RequestURI(),
		ContentType: resp.Header.Get("Content-Type"),
		Chunked:     resp.ContentLength < 0,
		Body:        body,
	}, nil
}

// FloorServer starts a trivial HTTP server on 127.0.0.1 (a random port)
// that serves each page from memory at its RequestURI with its Content-Type,
// and answers 404 to anything else. A page whose original was chunked is
// written with one Write and a Flush and no Content-Length, so net/http
// sends it with chunked transfer encoding; any other page is sent with a
// Content-Length. The caller must Close the server.
func FloorServer(pages ...Page) *httptest.Server {
	byURI := make(map[string]Page, len(pages))
	for _, p := range pages {
		byURI[p.RequestURI] = p
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := byURI[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if p.ContentType != "" {
			h["Content-Type"] = []string{p.ContentType}
		} else {
			h["Content-Type"] = nil // no sniffing: send none, like the original
		}
		if !p.Chunked {
			h["Content-Length"] = []string{fmt.Sprint(len(p.Body))}
		}
		w.Write(p.Body)
		if p.Chunked {
			http.NewResponseController(w).Flush()
		}
	}))
}

// RunFloor measures the floor for cfg: it fetches each of cfg.URLs once,
// serves the captured pages from a FloorServer, and runs cfg against that
// server instead, with every other setting unchanged. The returned report's
// URLs are the floor server's.
func RunFloor(ctx context.Context, cfg Config) (*Report, error) {
	client := cfg.Client
	if client == nil {
		client = NewClient(cfg.Timeout)
		cfg.Client = client
	}
	pages := make([]Page, 0, len(cfg.URLs))
	for _, u := range cfg.URLs {
		p, err := FetchPage(ctx, client, u)
		if err != nil {
			client.CloseIdleConnections()
			return nil, err
		}
		pages = append(pages, p)
	}
	srv := FloorServer(pages...)
	defer srv.Close()

	floor := cfg
	floor.URLs = slices.Clone(cfg.URLs)
	for i, p := range pages {
		floor.URLs[i] = srv.URL + p.RequestURI
	}
	return Run(ctx, floor)
}
