// Command fragsim is a plain HTTP fragment service, not Broadsheet's: it
// stands for another team's service in benchmarks of remote fragments.
//
//	go run ./cmd/fragsim [-addr 127.0.0.1:9201] [-latency 5ms]
//	    [-slow-every 100] [-slow-latency 500ms] [-bytes 200]
//	    [-cache-control max-age=30] [-slow-cache-control 'max-age=0, no-store']
//	    [-gen 1] [-h2c]
//
// It answers GET /frag/{i} (i from 0 to 1,000,000,000) with about -bytes
// of HTML after -latency, with -cache-control; every -slow-every-th
// fragment (i = 99, 199, … with the default 100) after -slow-latency, with
// -slow-cache-control. It also serves /healthz and /stats (its counters as
// JSON: connections, requests, slow, cancelled, served). See package
// internal/fragsim.
//
// It speaks HTTP/1.1; with -h2c it also accepts HTTP/2 over cleartext
// (prior knowledge) on the same address. Once it listens it prints
// "fragsim: serving http://ADDR" on its standard output. On SIGINT or
// SIGTERM it stops accepting connections and finishes the requests in
// progress (up to 2 s); to make it really go down (connection refused),
// kill it.
//
// In site.yaml, a page places its fragments as includes of one remote
// fragment:
//
//	fragments:
//	  frag:
//	    remote:
//	      url: "http://127.0.0.1:9201/frag/{i}"
//	      params: [{name: i, required: true, pattern: "[0-9]{1,10}"}]
//	    timeout: 50ms
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/broadsheet/broadsheet/internal/fragsim"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "fragsim:", err)
		os.Exit(1)
	}
}

type options struct {
	addr string
	h2c  bool
	sim  fragsim.Options
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("fragsim", flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9201", "listen `address` (port 0 picks a free port; the address is printed)")
	fs.DurationVar(&o.sim.Latency, "latency", 5*time.Millisecond, "how long a fragment takes to answer")
	fs.IntVar(&o.sim.SlowEvery, "slow-every", 100, "one fragment in `N` is slow: i = N-1, 2N-1, … (0: none)")
	fs.DurationVar(&o.sim.SlowLatency, "slow-latency", 500*time.Millisecond, "how long a slow fragment takes to answer")
	fs.IntVar(&o.sim.Bytes, "bytes", 200, "length of a fragment's HTML in `bytes`")
	fs.StringVar(&o.sim.CacheControl, "cache-control", "max-age=30", "Cache-Control of a fragment that is not slow (empty: none)")
	fs.StringVar(&o.sim.SlowCacheControl, "slow-cache-control", "max-age=0, no-store", "Cache-Control of a slow fragment (empty: none)")
	fs.StringVar(&o.sim.Gen, "gen", "1", "name of this run, written in every fragment (data-gen), so that a page shows which run served it")
	fs.BoolVar(&o.h2c, "h2c", false, "also accept HTTP/2 over cleartext (prior knowledge)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// run serves until ctx ends or a signal arrives. It prints the address it
// listens on to out, as "fragsim: serving http://ADDR", once it does.
func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	sim, err := fragsim.New(o.sim)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           sim,
		ConnState:         sim.ConnState,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	if o.h2c {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		hs.Protocols = &p
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(out, "fragsim: serving http://%s\n", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
