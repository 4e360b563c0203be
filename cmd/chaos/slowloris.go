package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
	"github.com/broadsheet/broadsheet/loadtest"
)

// Slowloris is the slow-client scenario (issue 20): a normal client's
// answers while slow clients try to hold the composer's connections.
type Slowloris struct {
	// PerIP is the composer's -max-conns-per-ip (-1: not given, for a
	// composer without the flag); MaxConns its -max-conns.
	PerIP    int `json:"max_conns_per_ip"`
	MaxConns int `json:"max_conns"`
	// BudgetMS is the normal client's page's budget.
	BudgetMS float64 `json:"budget_ms"`
	// Baseline is the normal client alone; Headers and Readers are its
	// windows during each attack.
	Baseline *Window `json:"baseline"`
	Headers  *Attack `json:"slow_headers"`
	Readers  *Attack `json:"slow_readers"`
}

// Attack is one attack phase and what the normal client saw meanwhile.
type Attack struct {
	Kind  string `json:"kind"`
	Conns int    `json:"conns"` // attacking connections kept open (reopened as closed)
	IPs   int    `json:"ips"`   // loopback addresses they come from
	// Spread is how long the connections take to open, one after the
	// other (0: all at once).
	Spread   time.Duration `json:"spread_ns"`
	Seconds  float64       `json:"seconds"`
	Normal   *Window       `json:"normal"`
	Opened   int64         `json:"opened"`    // connections the attack opened
	Got503   int64         `json:"got_503"`   // of those, answered 503 (shed)
	ClosedBy int64         `json:"closed_by"` // of those, closed by the composer (slow heads: without an answer)
	// From the composer's /metrics: connections shed over -max-conns and
	// over -max-conns-per-ip, during the phase.
	ShedConns   float64 `json:"shed_connections"`
	ShedPerIP   float64 `json:"shed_per_ip"`
	OpenPeak    float64 `json:"open_connections_peak"`
	GoPeak      float64 `json:"goroutines_peak"`
	GoEnd       float64 `json:"goroutines_at_end"` // sampled just before the attack stops
	GoAfter     float64 `json:"goroutines_after"`  // a few seconds after it stopped
	RSSIdleKiB  int64   `json:"rss_idle_kib"`
	RSSPeakKiB  int64   `json:"rss_peak_kib"`
	AttackError string  `json:"attack_error,omitempty"`
}

// normalSrc and attackNet are the loopback addresses of the normal
// client and of the attackers (127.1.0.1, 127.1.0.2, …): on Linux all of
// 127.0.0.0/8 is loopback, so one machine has many clients.
const normalSrc = "127.0.0.2"

func attackSrc(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250) }

// slowloris runs the slow-client scenario: the front page and the
// 2,000-score page in turn at -normal-rate from their own address, alone,
// then during -slow-conns connections that send their request head a line
// a second (reopened as soon as they are closed), then during
// -slow-readers connections that ask for a large page and never read it,
// each phase for -attack-for.
func (e *env) slowloris(ctx context.Context) (*Slowloris, error) {
	o := e.o
	args := []string{"-max-conns", strconv.Itoa(o.maxConns), "-feed-slow-every", "0"}
	if o.slowPerIP >= 0 {
		args = append(args, "-max-conns-per-ip", strconv.Itoa(o.slowPerIP))
	}
	cp, err := e.startComposer(ctx, "slowloris", args...)
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	res := &Slowloris{PerIP: o.slowPerIP, MaxConns: o.maxConns, BudgetMS: 300}
	normal := clientFrom(normalSrc)
	defer normal.CloseIdleConnections()
	// The front page and the 2,000-score page in turn: a small page,
	// always admitted, and one that the composer admits a few at a time
	// (composer.DefaultMaxIncludesInFlight).
	pages := []string{cp.base + "/", cp.pageURL(2000)}
	if _, err := windowRunURLs(ctx, normal, pages, 20, time.Second, 0); err != nil { // warm
		return nil, err
	}
	if res.Baseline, err = windowRunURLs(ctx, normal, pages, o.normalRate, 5*time.Second, 0); err != nil {
		return nil, err
	}
	addr := cp.base[len("http://"):]
	res.Headers, err = e.attack(ctx, cp, normal, pages, &Attack{Kind: "slow headers", Conns: o.slowConns, IPs: o.slowIPs},
		func(ctx context.Context, src string, a *Attack) { slowHead(ctx, src, addr, a) })
	if err != nil {
		return nil, err
	}
	big := "GET " + scoresPath + "?size=" + strconv.Itoa(o.readerSize) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := windowRun(ctx, normal, cp.pageURL(o.readerSize), 1, time.Second, 0); err != nil { // its includes cached
		return nil, err
	}
	// The readers arrive over 5 s, as a composer admitting a few large
	// pages at a time (-compose-mb) lets them in.
	res.Readers, err = e.attack(ctx, cp, normal, pages, &Attack{Kind: "slow readers", Conns: o.slowReaders, IPs: o.readerIPs, Spread: 5 * time.Second},
		func(ctx context.Context, src string, a *Attack) { noRead(ctx, src, addr, big, a) })
	return res, err
}

// normalConns bounds the normal client's connections, as a browser (six)
// or a small proxy pool would: an unbounded open-loop client facing slow
// answers opens a connection per request and trips -max-conns-per-ip
// itself.
const normalConns = 16

// clientFrom is a load client whose connections, at most normalConns,
// come from src.
func clientFrom(src string) *http.Client {
	c := loadtest.NewClient(10 * time.Second)
	t := c.Transport.(*http.Transport)
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	t.DialContext = d.DialContext
	t.MaxConnsPerHost, t.MaxIdleConnsPerHost = normalConns, normalConns
	return c
}

// attack runs a.Conns goroutines of one, spread over a.IPs addresses, for
// -attack-for while the normal client requests urls, and fills a.
func (e *env) attack(ctx context.Context, cp *composerProc, normal *http.Client, urls []string, a *Attack, one func(context.Context, string, *Attack)) (*Attack, error) {
	fmt.Fprintf(e.log, "  %s: %d connections from %d addresses for %s\n", a.Kind, a.Conns, a.IPs, e.o.attackFor)
	if m, err := harness.ReadMem(cp.PID()); err == nil {
		a.RSSIdleKiB = m.RSS
	}
	before, err := harness.Scrape(ctx, normal, cp.admin+"/metrics")
	if err != nil {
		return nil, err
	}
	smp := startSampler(ctx, cp, time.Now(), 200*time.Millisecond)
	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range a.Conns {
		src := attackSrc(i % max(a.IPs, 1))
		delay := a.Spread * time.Duration(i) / time.Duration(a.Conns)
		wg.Go(func() {
			select {
			case <-actx.Done():
				return
			case <-time.After(delay):
			}
			one(actx, src, a)
		})
	}
	t0 := time.Now()
	w, err := windowRunURLs(ctx, normal, urls, e.o.normalRate, e.o.attackFor, 0)
	a.Seconds = round1(time.Since(t0).Seconds())
	a.GoEnd = smp.metrics()["go_goroutines"]
	stop()
	wg.Wait()
	smp.stop()
	if err != nil {
		return nil, err
	}
	a.Normal = w
	a.GoPeak, a.RSSPeakKiB = smp.maxGo, smp.maxRSS
	after, err := harness.Scrape(ctx, normal, cp.admin+"/metrics")
	if err != nil {
		return nil, err
	}
	a.ShedConns = after["broadsheet_connections_shed_total"] - before["broadsheet_connections_shed_total"]
	a.ShedPerIP = after["broadsheet_connections_shed_per_ip_total"] - before["broadsheet_connections_shed_per_ip_total"]
	a.OpenPeak = smp.maxOpen
	// Settle: the composer's side of the attack's connections closes.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(3 * time.Second):
	}
	if m, err := harness.Scrape(ctx, normal, cp.admin+"/metrics"); err == nil {
		a.GoAfter = m["go_goroutines"]
	}
	return a, nil
}

// dialAttack connects from src, counting the attempt in a.
func dialAttack(ctx context.Context, src, addr string, a *Attack) (net.Conn, bool) {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil {
			a.noteError(err)
			select { // no busy loop on a refusing listener
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
		return nil, false
	}
	atomic.AddInt64(&a.Opened, 1)
	return c, true
}

var attackErrMu sync.Mutex

func (a *Attack) noteError(err error) {
	attackErrMu.Lock()
	defer attackErrMu.Unlock()
	if a.AttackError == "" {
		a.AttackError = err.Error()
	}
}

// slowHead keeps one connection sending a request head a line a second,
// reopening it whenever the composer answers or closes it, until ctx
// ends.
func slowHead(ctx context.Context, src, addr string, a *Attack) {
	buf := make([]byte, 64)
	for ctx.Err() == nil {
		c, ok := dialAttack(ctx, src, addr, a)
		if !ok {
			continue
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
		for ctx.Err() == nil {
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if n > 0 {
				if string(buf[:min(n, 12)]) == "HTTP/1.1 503" {
					atomic.AddInt64(&a.Got503, 1)
				}
				break
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				if _, err := c.Write([]byte("X-Slow: 1\r\n")); err != nil {
					atomic.AddInt64(&a.ClosedBy, 1)
					break
				}
				continue
			}
			if ctx.Err() == nil {
				atomic.AddInt64(&a.ClosedBy, 1)
			}
			break
		}
		stop()
		c.Close()
	}
}

// noRead asks for req on one connection with a small receive buffer and
// never reads the answer; it learns that the composer closed the
// connection by writing a byte every two seconds (the composer, busy
// writing its answer, never reads them: a write fails once its side is
// gone). It does not reconnect: what the composer holds at the end of the
// attack is what it kept of these connections.
func noRead(ctx context.Context, src, addr, req string, a *Attack) {
	c, ok := dialAttack(ctx, src, addr, a)
	if !ok {
		return
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		if _, err := c.Write([]byte("G")); err != nil {
			if ctx.Err() == nil {
				atomic.AddInt64(&a.ClosedBy, 1)
			}
			return
		}
	}
}
