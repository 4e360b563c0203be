package server

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheck GETs /readyz of the composer listening on addr (the -addr
// of the container it runs in: an unspecified host is this machine) and
// returns nil on 200. It is the container health check of an image
// without curl or wget (the distroless one).
func healthcheck(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-healthcheck: -addr: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/readyz")
	if err != nil {
		return fmt.Errorf("-healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("-healthcheck: /readyz: %s", resp.Status)
	}
	return nil
}
