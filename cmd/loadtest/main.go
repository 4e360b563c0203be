// Command loadtest drives HTTP load against Broadsheet pages and reports
// throughput, latency percentiles and page completeness.
//
// Usage:
//
//	go run ./cmd/loadtest [flags]
//
// For example:
//
//	go run ./cmd/loadtest -url 'http://127.0.0.1:8080/sport/football/scores?debug=1' \
//	    -c 16 -duration 10s -max-requests 20000 -warmup 1s -expect-includes 2001 -floor
//
// By default loadtest keeps -c requests in flight (closed loop): each worker
// sends its next request as soon as it has read the previous response to the
// last byte. With -rate N it instead sends N requests per second whatever the
// response times (open loop, paced by vegeta). Either way the run stops after
// -duration, after -max-requests recorded requests, or on SIGINT, whichever
// comes first, and prints the figures gathered so far. Requests made during
// -warmup are not recorded.
//
// The report gives the number of requests, throughput in requests and bytes
// per second, p50/p90/p99/max/mean latency to the first byte (TTFB) and to
// the last byte (TTLB), counts per status code, and errors: transport errors,
// non-2xx responses, and incomplete pages. A 2xx page is complete when it
// ends with </html> (trailing whitespace ignored) and, with -expect-includes
// N, contains at least N data-fragment=" markers, which the composer emits
// around every include under ?debug=1. The data-outcome="X" values of all
// responses are totalled per X (hit, stale, miss, timeout, error, fallback,
// placeholder, and other).
//
// With -floor, loadtest first fetches each URL once, serves those bytes from
// memory on an in-process server at 127.0.0.1 (same Content-Type; chunked if
// the original was, otherwise with Content-Length), drives that server with
// the same settings, and then drives the real target. It prints both reports
// and the ratio of the target's throughput to the floor's: the floor is what
// the client, the loopback network and this machine allow at best.
//
// Requests go only to the URLs given: redirects are not followed (a 3xx
// counts as a non-2xx error) and proxy settings from the environment are
// ignored. Responses are requested uncompressed unless -accept-encoding
// asks for a coding: a coded body is then scanned as sent (throughput and
// bytes on the wire; complete when read to its end without error) or,
// with -decode, decoded first (gzip, zstd, br) and checked as any page.
//
// The flags are:
//
//	-url URL            URL to request; repeat for several, used round-robin
//	                    (default http://127.0.0.1:8080/)
//	-c N                concurrent workers; with -rate, workers started up front (default 8)
//	-rate N             requests per second, open loop; 0 means closed loop (default 0)
//	-duration D         measured run time after the warm-up (default 10s)
//	-max-requests N     stop after N recorded requests; 0 means no limit (default 100000)
//	-warmup D           unrecorded warm-up before the measurement (default 0)
//	-expect-includes N  minimum data-fragment=" markers in a complete page (default 0)
//	-timeout D          per-request timeout, body included (default 30s)
//	-accept-encoding V  send Accept-Encoding: V with every request (default: none)
//	-decode             decode coded bodies before scanning them
//	-H 'Name: value'    send this header field with every request; repeat for
//	                    several. With If-None-Match (or If-Modified-Since) a
//	                    304 is a complete response, counted under 304
//	-floor              measure the in-memory floor first and print the ratio
//	-json               print one JSON object instead of text
//
// With -json the output is one object: {"target": REPORT} and, with -floor,
// also "floor": REPORT and "target_to_floor_throughput": RATIO. Durations in
// a REPORT are in milliseconds (keys ending in _ms) or seconds (_s).
//
// The exit status is 0 when the run completed, whatever it measured, 1 when
// it could not run, and 2 for bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/broadsheet/broadsheet/loadtest"
)

const defaultURL = "http://127.0.0.1:8080/"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// urlList is a repeatable string flag.
type urlList []string

func (u *urlList) String() string { return fmt.Sprint(*u) }

func (u *urlList) Set(s string) error {
	*u = append(*u, s)
	return nil
}

// headerFlag is a repeatable "Name: value" flag.
type headerFlag http.Header

func (h headerFlag) String() string { return fmt.Sprint(http.Header(h)) }

func (h headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
		return fmt.Errorf("want a header field as 'Name: value', got %q", s)
	}
	http.Header(h).Add(name, value)
	return nil
}

// output is what -json prints.
type output struct {
	Target *loadtest.Report `json:"target"`
	Floor  *loadtest.Report `json:"floor,omitempty"`
	Ratio  *float64         `json:"target_to_floor_throughput,omitempty"`
}

// run is the whole command, apart from signal handling and exiting; it
// returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, floor, asJSON, status := parseFlags(args, stderr)
	if status >= 0 {
		return status
	}
	out, err := measure(ctx, cfg, floor)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	if err := out.write(stdout, asJSON); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	return 0
}

// parseFlags reads the command line into a load configuration, whether to
// measure the floor first and whether to print JSON; status is the exit
// status when the command should stop here (-h, or a bad flag, said on
// stderr), -1 otherwise.
func parseFlags(args []string, stderr io.Writer) (cfg loadtest.Config, floor, asJSON bool, status int) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		urls           urlList
		timeout        time.Duration
		header         = headerFlag{}
		concurrency    = fs.Int("c", 8, "concurrent `workers`; with -rate, workers started up front")
		rate           = fs.Int("rate", 0, "`requests` per second, open loop; 0 means closed loop")
		duration       = fs.Duration("duration", 10*time.Second, "measured run `time` after the warm-up")
		maxRequests    = fs.Int("max-requests", 100000, "stop after `N` recorded requests; 0 means no limit")
		warmup         = fs.Duration("warmup", 0, "unrecorded warm-up `time` before the measurement")
		expectIncludes = fs.Int("expect-includes", 0, "minimum data-fragment=\" markers in a complete `page`")
		acceptEncoding = fs.String("accept-encoding", "", "Accept-Encoding `value` sent with every request (default: none)")
		decode         = fs.Bool("decode", false, "decode coded bodies before scanning them (needed for -expect-includes with -accept-encoding)")
	)
	fs.Var(&urls, "url", "`URL` to request; repeat for several, used round-robin (default "+defaultURL+")")
	fs.Var(header, "H", "header `field` sent with every request, as 'Name: value'; repeat for several")
	fs.DurationVar(&timeout, "timeout", loadtest.DefaultTimeout, "per-request `timeout`, body included")
	fs.BoolVar(&floor, "floor", false, "measure the in-memory floor first and print the ratio")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object instead of text")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, false, false, 0
		}
		return cfg, false, false, 2
	}
	bad := func(msg string) (loadtest.Config, bool, bool, int) {
		fmt.Fprintln(stderr, "loadtest: "+msg)
		return cfg, false, false, 2
	}
	switch {
	case fs.NArg() > 0:
		return bad(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	case *concurrency < 1:
		return bad("-c must be at least 1")
	case *duration <= 0:
		return bad("-duration must be positive")
	case *rate < 0 || *maxRequests < 0 || *warmup < 0 || *expectIncludes < 0 || timeout <= 0:
		return bad("-rate, -max-requests, -warmup and -expect-includes must not be negative, -timeout must be positive")
	}
	if len(urls) == 0 {
		urls = urlList{defaultURL}
	}
	cfg = loadtest.Config{
		URLs:           urls,
		Concurrency:    *concurrency,
		Rate:           *rate,
		Duration:       *duration,
		MaxRequests:    *maxRequests,
		Warmup:         *warmup,
		ExpectIncludes: *expectIncludes,
		Timeout:        timeout,
		AcceptEncoding: *acceptEncoding,
		Decode:         *decode,
		Header:         http.Header(header),
	}
	return cfg, floor, asJSON, -1
}

// measure runs the load of cfg, after the floor's when floor is set.
func measure(ctx context.Context, cfg loadtest.Config, floor bool) (*output, error) {
	var out output
	if floor {
		rep, err := loadtest.RunFloor(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		out.Floor = rep
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out.Target = rep
	if out.Floor != nil && out.Floor.Throughput > 0 {
		ratio := out.Target.Throughput / out.Floor.Throughput
		out.Ratio = &ratio
	}
	return &out, nil
}

// write prints out to w, as one JSON object when asJSON is set, else as
// text: the floor's report first, if measured, then the target's and the
// ratio of their throughputs.
func (out *output) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if out.Floor != nil {
		fmt.Fprintln(w, "== floor: the same bytes from an in-memory server ==")
		out.Floor.WriteText(w)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "== target ==")
	}
	out.Target.WriteText(w)
	if out.Ratio != nil {
		fmt.Fprintf(w, "\ntarget/floor throughput: %.3f (%.1f / %.1f req/s)\n",
			*out.Ratio, out.Target.Throughput, out.Floor.Throughput)
	}
	return nil
}
