package harness

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartRedis runs redis-server on a free loopback port with persistence
// off, in dir, and waits until it answers PING.
func StartRedis(ctx context.Context, bin, dir, logPath string) (*Proc, *redis.Client, error) {
	port, err := FreePort()
	if err != nil {
		return nil, nil, err
	}
	return StartRedisOn(ctx, bin, dir, logPath, port)
}

// StartRedisOn is StartRedis on a given port: a restarted server takes the
// place (and the clients) of one that was killed.
func StartRedisOn(ctx context.Context, bin, dir, logPath string, port int) (*Proc, *redis.Client, error) {
	p, err := Start("redis-server", bin, []string{
		"--save", "", "--appendonly", "no", "--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--dir", dir,
	}, logPath)
	if err != nil {
		return nil, nil, err
	}
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), PoolSize: 64})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := client.Ping(ctx).Err(); err == nil {
			return p, client, nil
		}
		if p.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			client.Close()
			p.Stop()
			return nil, nil, fmt.Errorf("harness: redis-server on port %d did not answer PING", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
