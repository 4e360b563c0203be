package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyPrefix namespaces the Redis store's keys.
const KeyPrefix = "bs1:session:"

// opTimeout bounds each Redis call: a credential check is on a request's
// path.
const opTimeout = 200 * time.Millisecond

// Redis is a Store in Redis, shared by every instance using it. Each key
// is one Redis string with its TTL, so Redis expires them itself.
type Redis struct {
	client redis.UniversalClient
}

// NewRedis returns a Store on client.
func NewRedis(client redis.UniversalClient) *Redis { return &Redis{client: client} }

// Put sets key with its TTL (at least a millisecond).
func (s *Redis) Put(ctx context.Context, key, value string, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.client.Set(ctx, KeyPrefix+key, value, max(ttl, time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("session: put: %w", err)
	}
	return nil
}

// Get reads key.
func (s *Redis) Get(ctx context.Context, key string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	v, err := s.client.Get(ctx, KeyPrefix+key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("session: get: %w", err)
	}
	return v, true, nil
}

// Delete removes key.
func (s *Redis) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.client.Del(ctx, KeyPrefix+key).Err(); err != nil {
		return fmt.Errorf("session: delete: %w", err)
	}
	return nil
}
