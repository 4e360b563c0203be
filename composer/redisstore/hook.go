package redisstore

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// CountingHook is a go-redis hook that counts round trips, commands and
// dials. Add it with client.AddHook. A single command is one round trip; a
// pipeline is one round trip however many commands it holds. On a cluster
// client a pipeline counts once, although go-redis sends it to each node
// concerned in parallel. Setting up a new connection (HELLO, and AUTH or
// SELECT when needed) also passes through the hooks and is counted, so warm
// the client's connections before measuring a call.
//
// A CountingHook is safe for concurrent use; its zero value is ready.
type CountingHook struct {
	roundTrips atomic.Int64
	commands   atomic.Int64
	dials      atomic.Int64
}

var _ redis.Hook = (*CountingHook)(nil)

// RoundTrips is the number of commands and pipelines sent so far, including
// failed ones.
func (h *CountingHook) RoundTrips() int64 { return h.roundTrips.Load() }

// Commands is the number of commands sent so far, counting each command of a
// pipeline.
func (h *CountingHook) Commands() int64 { return h.commands.Load() }

// Dials is the number of connections attempted so far.
func (h *CountingHook) Dials() int64 { return h.dials.Load() }

// DialHook counts dials.
func (h *CountingHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return next(ctx, network, addr)
	}
}

// ProcessHook counts one round trip and one command per command.
func (h *CountingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.roundTrips.Add(1)
		h.commands.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts one round trip per pipeline and one command per
// command in it.
func (h *CountingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.roundTrips.Add(1)
		h.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}
