package composer

import "context"

// Store look-ups for the benchmarks of package composer_test, which may
// use a real Store (package redisstore imports composer): the coalesced
// look-up requests make, and the plain one they would each make without
// coalescing.
var (
	LookupCoalesced = func(c *Composer, ctx context.Context, keys []string) ([]*Entry, error) { return c.getMulti(ctx, keys) }
	LookupPlain     = func(c *Composer, ctx context.Context, keys []string) ([]*Entry, error) { return c.getStore(ctx, keys) }
)
