package server

import (
	"errors"
	"flag"
)

// clientOptions are the per-client limits: how many connections, and how
// many requests a second, one client may have (clientip: its address, an
// IPv6 one by its /64).
type clientOptions struct {
	maxConnsPerIP  int
	clientIPHeader string
	ratePerIP      float64
	burstPerIP     int
}

// defaultMaxConnsPerIP is -max-conns-per-ip's default: a browser opens six
// connections to a host, a large office behind one address a few dozen;
// one client holding more is not browsing.
const defaultMaxConnsPerIP = 64

func addClientFlags(fs *flag.FlagSet, o *clientOptions) {
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", defaultMaxConnsPerIP, "connections open at once from one client address (an IPv6 one by its /64); each one over it is answered 503 with Retry-After and closed (0: no limit; set 0 behind a proxy, whose connections all come from its address)")
	fs.StringVar(&o.clientIPHeader, "client-ip-header", "", "header a trusted proxy in front sets to the client's address (e.g. X-Forwarded-For: its last address is taken), for the per-client request rate and log-in backoff (empty: the connection's address; set it only behind such a proxy)")
	fs.Float64Var(&o.ratePerIP, "rate-per-ip", 0, "requests a second one client may make on average on -addr; beyond, 429 with Retry-After (0: no limit)")
	fs.IntVar(&o.burstPerIP, "burst-per-ip", 0, "requests one client may make at once within -rate-per-ip (0: twice the rate, at least 1)")
}

func (o *clientOptions) check() error {
	switch {
	case o.maxConnsPerIP < 0:
		return errors.New("-max-conns-per-ip: must not be negative")
	case o.ratePerIP < 0:
		return errors.New("-rate-per-ip: must not be negative")
	case o.burstPerIP < 0:
		return errors.New("-burst-per-ip: must not be negative")
	}
	if o.burstPerIP == 0 {
		o.burstPerIP = max(1, int(2*o.ratePerIP))
	}
	return nil
}
