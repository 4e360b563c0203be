package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CLI is the redis-cli executable StartCluster runs to create the cluster.
// Debian installs it with redis-server (package redis-tools).
const CLI = "/usr/bin/redis-cli"

// clusterReadyTimeout bounds how long StartCluster and WaitHealthy wait for
// every node to agree that the cluster is ok.
const clusterReadyTimeout = 20 * time.Second

// Cluster is a throw-away Redis Cluster on loopback: Nodes redis-server
// processes started by Start with cluster mode on, joined by
// `redis-cli --cluster create`. Each node is a Server, so a test can Kill,
// Stop, Cont or Restart one; a restarted node keeps its nodes.conf (in its
// own directory) and rejoins the cluster, as a replica if it was failed
// over.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// StartCluster starts a cluster of primaries primary nodes and no replicas,
// and waits until every node reports cluster_state:ok (see
// StartClusterReplicas).
func StartCluster(t testing.TB, primaries int) *Cluster {
	t.Helper()
	return StartClusterReplicas(t, primaries, 0)
}

// StartClusterReplicas starts primaries × (1 + replicas) nodes on free
// loopback ports, creates a cluster of them with the 16,384 slots spread
// evenly over the primaries and replicas replicas of each, and waits (at
// most 20 s) until every node reports cluster_state:ok and every replica is
// in sync. Every node is killed when the test ends.
//
// The nodes time peers out after 1 s (cluster-node-timeout), so a replica
// takes over a killed primary's slots a second or two later. They serve the
// slots they own even while another primary is down without a replica
// (cluster-require-full-coverage no): a cache prefers losing a third of its
// keys to losing all of them.
func StartClusterReplicas(t testing.TB, primaries, replicas int) *Cluster {
	t.Helper()
	if primaries < 3 {
		t.Fatalf("redistest: a Redis Cluster needs at least 3 primaries, got %d", primaries)
	}
	if _, err := os.Stat(CLI); err != nil {
		t.Fatalf("redistest: %s not found (%v): it comes with `apt-get install -y redis-server` (redis-tools)", CLI, err)
	}
	c := &Cluster{t: t}
	for range primaries * (1 + replicas) {
		c.Nodes = append(c.Nodes, Start(t,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", // in the node's own --dir
			"--cluster-node-timeout", "1000",
			"--cluster-require-full-coverage", "no",
			// A replica may take over however long it was cut off: on a
			// cache, some data beats none.
			"--cluster-replica-validity-factor", "0",
		))
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", fmt.Sprint(replicas), "--cluster-yes")
	out, err := exec.Command(CLI, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy()
	return c
}

// Addrs are the host:port of every node, running or not.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// URL is the cluster's redis+cluster:// URL naming every node (as
// redisstore.NewClient reads it).
func (c *Cluster) URL() string {
	return "redis+cluster://" + strings.Join(c.Addrs(), ",")
}

// Node returns the node listening on addr, or nil.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// nodeClient is a short-lived plain client for one node; close it.
func nodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, PoolSize: 1})
}

// do runs a command answering text (CLUSTER INFO, INFO) on the node at
// addr.
func do(ctx context.Context, addr string, args ...any) (string, error) {
	cl := nodeClient(addr)
	defer cl.Close()
	return cl.Do(ctx, args...).Text()
}

// WaitHealthy waits (at most 20 s) until every running node reports
// cluster_state:ok, knows every slot, and agrees with the others on who owns
// them, and every replica's link to its primary is up; it fails the test
// otherwise. Use it after Kill or Restart to wait for a failover or a
// rejoin.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	deadline := time.Now().Add(clusterReadyTimeout)
	var why string
	for time.Now().Before(deadline) {
		if why = c.unhealthy(); why == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("redistest: cluster not healthy after %v: %s", clusterReadyTimeout, why)
}

func (c *Cluster) unhealthy() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var views []string
	for _, n := range c.running() {
		info, err := do(ctx, n.Addr(), "cluster", "info")
		if err != nil {
			return fmt.Sprintf("%s: %v", n.Addr(), err)
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return n.Addr() + ": " + strings.Join(strings.Fields(info)[:4], " ")
		}
		repl, err := do(ctx, n.Addr(), "info", "replication")
		if err != nil {
			return fmt.Sprintf("%s: %v", n.Addr(), err)
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return n.Addr() + ": replica not in sync"
		}
		owners, err := c.owners(ctx, n.Addr())
		if err != nil {
			return fmt.Sprintf("%s: %v", n.Addr(), err)
		}
		views = append(views, owners)
	}
	for _, v := range views[1:] {
		if v != views[0] {
			return "nodes disagree on slot owners"
		}
	}
	return ""
}

// running lists the nodes whose process runs.
func (c *Cluster) running() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		n.mu.Lock()
		up := n.cmd != nil
		n.mu.Unlock()
		if up {
			out = append(out, n)
		}
	}
	return out
}

// owners is a node's view of the slot ranges and their primaries, as a
// canonical string.
func (c *Cluster) owners(ctx context.Context, addr string) (string, error) {
	cl := nodeClient(addr)
	defer cl.Close()
	ranges, err := slotRanges(ctx, cl)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, r := range ranges {
		parts = append(parts, fmt.Sprintf("%d-%d:%s", r.start, r.end, r.primary))
	}
	slices.Sort(parts)
	return strings.Join(parts, " "), nil
}

// Primaries returns the nodes that currently own slots, as a running node
// sees them.
func (c *Cluster) Primaries() []*Server {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []*Server
	for _, n := range c.running() {
		cl := nodeClient(n.Addr())
		ranges, err := slotRanges(ctx, cl)
		cl.Close()
		if err != nil {
			continue
		}
		for _, r := range ranges {
			if p := c.Node(r.primary); p != nil && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		return out
	}
	c.t.Fatal("redistest: no node of the cluster answers")
	return nil
}

// PrimaryOf returns the node that currently owns key's slot; the test
// fails if no node names one.
func (c *Cluster) PrimaryOf(key string) *Server {
	c.t.Helper()
	p := c.Owner(key)
	if p == nil {
		c.t.Fatalf("redistest: no owner for %q", key)
	}
	return p
}

// Owner returns the node that currently owns key's slot as the first
// running node that answers sees it, or nil when none names an online
// primary for it, as while the cluster fails over.
func (c *Cluster) Owner(key string) *Server {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, n := range c.running() {
		cl := nodeClient(n.Addr())
		slot, err := cl.ClusterKeySlot(ctx, key).Result()
		var ranges []slotRange
		if err == nil {
			ranges, err = slotRanges(ctx, cl)
		}
		cl.Close()
		if err != nil {
			continue
		}
		for _, r := range ranges {
			if r.start <= slot && slot <= r.end {
				return c.Node(r.primary)
			}
		}
	}
	return nil
}

// slotRange is a range of hash slots and the address of its primary.
type slotRange struct {
	start, end int64
	primary    string
}

// slotRanges is a node's view of the slot ranges and their primaries
// (CLUSTER SHARDS, Redis 7).
func slotRanges(ctx context.Context, cl *redis.Client) ([]slotRange, error) {
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []slotRange
	for _, s := range shards {
		i := slices.IndexFunc(s.Nodes, func(n redis.Node) bool { return n.Role == "master" && n.Health == "online" })
		if i < 0 {
			continue
		}
		addr := fmt.Sprintf("%s:%d", s.Nodes[i].IP, s.Nodes[i].Port)
		for _, r := range s.Slots {
			out = append(out, slotRange{r.Start, r.End, addr})
		}
	}
	return out, nil
}

// Client returns a go-redis cluster client for the cluster, closed when the
// test ends, with go-redis defaults except that it honours context
// deadlines.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := cl.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: ping cluster: %v", err)
	}
	return cl
}
