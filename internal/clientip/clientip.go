// Package clientip names the client of a connection or a request for
// per-client limits: its IP address, an IPv6 one cut to its /64 (what one
// host is usually given, so that a host cannot take a fresh key per
// address).
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Key is addr as a limit key: IPv4 (or IPv4-mapped IPv6) whole, IPv6 by
// its /64, "unknown" for an invalid address.
func Key(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return "unknown"
	case addr.Is6():
		p, _ := addr.WithZone("").Prefix(64)
		return p.String()
	}
	return addr.String()
}

// OfAddr is the Key of a net.Addr (a connection's peer).
func OfAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return Key(ta.AddrPort().Addr())
	}
	if a == nil {
		return Key(netip.Addr{})
	}
	return OfHostPort(a.String())
}

// OfHostPort is the Key of "host:port" (http.Request.RemoteAddr).
func OfHostPort(hp string) string {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		host = hp
	}
	addr, _ := netip.ParseAddr(host)
	return Key(addr)
}

// OfRequest is the Key of r's client: the connection's peer, or, when
// header is set, the last address of that header — the one the trusted
// proxy in front wrote (earlier ones are what the client said). header
// is for deployments behind a proxy that sets it; anywhere else every
// client could choose its own key. A header that is absent or holds no
// address falls back to the peer.
func OfRequest(r *http.Request, header string) string {
	if header != "" {
		if vs := r.Header.Values(header); len(vs) > 0 {
			v := vs[len(vs)-1]
			if i := strings.LastIndexByte(v, ','); i >= 0 {
				v = v[i+1:]
			}
			if addr, err := netip.ParseAddr(strings.TrimSpace(v)); err == nil {
				return Key(addr)
			}
		}
	}
	return OfHostPort(r.RemoteAddr)
}
