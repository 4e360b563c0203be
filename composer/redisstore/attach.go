package redisstore

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer"
)

// Attach makes c follow purges announced on client: each purge drops the
// fragment's in-process entries, and every (re)subscription re-reads all
// generations, since purges announced while the subscription was down were
// missed. It returns at once; Close the Subscription (or end ctx) to stop.
func Attach(ctx context.Context, c *composer.Composer, client redis.UniversalClient, log *slog.Logger) *Subscription {
	if log == nil {
		log = slog.Default()
	}
	return NewInvalidator(client).Subscribe(ctx, func(fragment string, gen int64) {
		if fragment != Subscribed {
			c.ApplyGeneration(fragment, gen)
			return
		}
		// Read the generations off the subscription's goroutine: it must
		// keep draining messages.
		go func() {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := c.SyncGenerations(sctx); err != nil && ctx.Err() == nil {
				log.Warn("redisstore: could not read fragment generations", "err", err)
			}
		}()
	})
}
