package remote

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

// h2cService is a real HTTP service on loopback that speaks HTTP/1.1 and
// HTTP/2 over cleartext (prior knowledge), as Go's servers do with
// Protocols, and counts the connections it accepted and the requests it
// had by protocol major version.
type h2cService struct {
	*httptest.Server
	conns atomic.Int64
	h1    atomic.Int64
	h2    atomic.Int64
}

func newH2CService(t *testing.T) *h2cService {
	t.Helper()
	s := &h2cService{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			s.h2.Add(1)
		} else {
			s.h1.Add(1)
		}
		time.Sleep(time.Millisecond) // a little work, so that requests overlap
		w.Header().Set("Cache-Control", "max-age=30")
		_, _ = w.Write([]byte(`<p class="t">` + strings.TrimPrefix(r.URL.Path, "/t/") + `</p>`))
	}))
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(true)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// renderAll renders n includes of s (i = 0 … n-1) at once and fails the
// test on any error.
func renderAll(t *testing.T, s *composer.Spec, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			p, err := composer.NewParams(s, map[string]string{"i": strings.Repeat("1", 1+i%5) + string(rune('a'+i%26))})
			if err == nil {
				_, err = s.Render(context.Background(), p)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestH2C: a fragment declared h2c is fetched over HTTP/2 with prior
// knowledge, its concurrent requests as streams of one connection; the
// same service declared without it is fetched over HTTP/1.1, a connection
// per request in flight.
func TestH2C(t *testing.T) {
	const n = 40
	params := []composer.ParamSpec{{Name: "i", Required: true}}
	for _, tc := range []struct {
		h2c       bool
		wantProto string
	}{{true, "HTTP/2"}, {false, "HTTP/1.1"}} {
		t.Run(tc.wantProto, func(t *testing.T) {
			svc := newH2CService(t)
			c := newClient(t, Options{})
			s, err := c.Spec(Config{Name: "t", URL: svc.URL + "/t/{i}", Params: params, H2C: tc.h2c})
			if err != nil {
				t.Fatal(err)
			}
			renderAll(t, s, n)
			h1, h2, conns := svc.h1.Load(), svc.h2.Load(), svc.conns.Load()
			t.Logf("%d connections, %d HTTP/1.1 and %d HTTP/2 requests", conns, h1, h2)
			switch {
			case tc.h2c && (h2 != n || h1 != 0):
				t.Errorf("h2c: %d HTTP/2 and %d HTTP/1.1 requests, want %d and 0", h2, h1, n)
			case tc.h2c && conns > n/8:
				// One, or a few: the transport may dial again while its
				// first connection is being made.
				t.Errorf("h2c: %d connections for %d concurrent requests, want a few", conns, n)
			case !tc.h2c && (h1 != n || h2 != 0):
				t.Errorf("HTTP/1.1: %d HTTP/1.1 and %d HTTP/2 requests, want %d and 0", h1, h2, n)
			}
		})
	}
}

// TestH2CRefused: h2c is for http:// URLs and not with batch.
func TestH2CRefused(t *testing.T) {
	c := newClient(t, Options{})
	for _, cfg := range []Config{
		{Name: "a", URL: "https://127.0.0.1:1/x", H2C: true},
		{Name: "b", URL: "http://127.0.0.1:1/fragments/b", H2C: true, Batch: true},
	} {
		if _, err := c.Spec(cfg); err == nil || !strings.Contains(err.Error(), ": h2c ") {
			t.Errorf("%+v: err = %v, want an h2c error", cfg, err)
		}
	}
}
