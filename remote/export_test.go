package remote

import (
	"context"
	"net"
)

// NewDialing is New with dial in place of the Client's own dialer.
func NewDialing(o Options, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *Client {
	return newDialing(o, dial)
}
