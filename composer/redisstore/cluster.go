package redisstore

// Redis Cluster. A Store over a cluster client looks keys up with one
// pipeline of GETs (pipelinedGets) instead of one MGET: the cluster refuses
// an MGET whose keys span hash slots, and the keys of one page level, which
// carry no hash tag (see GetMulti), span nearly as many slots as there are
// keys. go-redis splits a pipeline by node and sends the parts in parallel,
// and one node failing fails only its part (judge, nodeFailed).

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// pipelinedGets looks keys up with one pipeline of GETs, each value into
// its slot of vals ("" for an absent key or a command a failing node lost).
func (s *Store) pipelinedGets(ctx context.Context, keys []string, vals []string) error {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	executed, err := pipe.Exec(ctx)
	if err := s.judge(executed, err); err != nil {
		return err
	}
	for i, c := range cmds {
		if v, err := c.Result(); err == nil {
			vals[i] = v
		}
	}
	return nil
}

// judge returns the verdict on an executed pipeline, command by command
// (redis.Nil, an absent key, is no failure). On a Redis Cluster, go-redis
// sends one part of a pipeline to each node concurrently, and one node
// failing (killed, failing over, hung) fails only its part. If every
// command failed, the call failed: judge returns the first error. If only
// some did, they are counted in NodeErrors, the client is asked to reload
// its view of the slots (a failover moves them to a replica, and a dead node
// never replies MOVED), and judge returns nil: the keys the other nodes
// answered for are used, and the breaker, which guards Redis as a whole,
// stays closed. Callers treat each failed command as they would treat the
// whole call failing.
func (s *Store) judge(cmds []redis.Cmder, execErr error) error {
	var first error
	failed := 0
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	switch failed {
	case 0:
		// A failure no command recorded (go-redis sets each command's
		// error, but a hook may fail a pipeline without sending it).
		if execErr != nil && !errors.Is(execErr, redis.Nil) {
			return execErr
		}
		return nil
	case len(cmds):
		return first
	}
	s.nodeFailed(int64(failed))
	return nil
}

// nodeFailed counts commands lost to a failing cluster node and asks the
// cluster client for a fresh view of the slots (go-redis coalesces these
// requests: at most one reload runs, then waits 200 ms).
func (s *Store) nodeFailed(n int64) {
	s.nodeErrs.Add(n)
	if s.cluster != nil {
		s.cluster.ReloadState(context.Background())
	}
}
