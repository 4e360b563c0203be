package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"testing"
)

func TestOfRequest(t *testing.T) {
	for _, tc := range []struct {
		remote, header, value, want string
	}{
		{"192.0.2.7:5555", "", "", "192.0.2.7"},
		{"192.0.2.7:5555", "", "10.0.0.1", "192.0.2.7"}, // no trusted header: the value is ignored
		{"[2001:db8:1:2:3:4:5:6]:80", "", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::9]:80", "", "", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "", "", "192.0.2.7"},
		{"[fe80::1%eth0]:80", "", "", "fe80::/64"},
		{"10.0.0.9:1", "X-Forwarded-For", "203.0.113.5, 198.51.100.2", "198.51.100.2"},
		{"10.0.0.9:1", "X-Real-Ip", "203.0.113.5", "203.0.113.5"},
		{"10.0.0.9:1", "X-Forwarded-For", "not an address", "10.0.0.9"},
		{"10.0.0.9:1", "X-Forwarded-For", "", "10.0.0.9"},
		{"garbage", "", "", "unknown"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.value != "" {
			r.Header.Set("X-Forwarded-For", tc.value)
			r.Header.Set("X-Real-Ip", tc.value)
		}
		if got := OfRequest(r, tc.header); got != tc.want {
			t.Errorf("OfRequest(%s, %s: %q) = %q, want %q", tc.remote, tc.header, tc.value, got, tc.want)
		}
	}
	if got := OfAddr(&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 9}); got != "127.0.0.2" {
		t.Errorf("OfAddr = %q", got)
	}
}

// FuzzOfRequest: whatever the peer and the header hold, the key is
// "unknown", an address, or an IPv6 /64, and never the header's text
// unparsed.
func FuzzOfRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, remote, value string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {value}}}
		k := OfRequest(r, "X-Forwarded-For")
		if k == "unknown" {
			return
		}
		if _, err := netip.ParseAddr(k); err == nil {
			return
		}
		if p, err := netip.ParsePrefix(k); err != nil || p.Bits() != 64 {
			t.Fatalf("OfRequest(%q, %q) = %q: no address, no /64", remote, value, k)
		}
	})
}
