package redisstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestNewClientKinds(t *testing.T) {
	for _, tc := range []struct {
		url   string
		kind  string // single, cluster, sentinel
		addrs []string
		db    int
		pass  string
	}{
		{url: "redis://127.0.0.1:6379/2", kind: "single", addrs: []string{"127.0.0.1:6379"}, db: 2},
		{url: "rediss://:pw@cache:6380/0", kind: "single", addrs: []string{"cache:6380"}, pass: "pw"},
		{url: "redis+cluster://n1:7000,n2:7001,n3:7002", kind: "cluster", addrs: []string{"n1:7000", "n2:7001", "n3:7002"}},
		{url: "rediss+cluster://:pw@n1:7000,n2:7001/0", kind: "cluster", addrs: []string{"n1:7000", "n2:7001"}, pass: "pw"},
		{url: "redis://n1:7000?addr=n2:7001&addr=n3:7002", kind: "cluster", addrs: []string{"n1:7000", "n2:7001", "n3:7002"}},
		{url: "redis+sentinel://:pw@s1:26379,s2:26379/mymaster/3", kind: "sentinel", db: 3, pass: "pw"},
		{url: "redis+sentinel://s1:26379/mymaster", kind: "sentinel"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := NewClient(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			switch cl := c.(type) {
			case *redis.ClusterClient:
				o := cl.Options()
				if tc.kind != "cluster" || !reflect.DeepEqual(o.Addrs, tc.addrs) || o.Password != tc.pass {
					t.Fatalf("cluster client on %v (password %q), want %s %v", o.Addrs, o.Password, tc.kind, tc.addrs)
				}
				if o.ReadOnly || o.RouteRandomly || o.RouteByLatency || o.MaxRedirects != 3 || o.MaxRetries != -1 {
					t.Errorf("cluster routing: %+v", o)
				}
			case *redis.Client:
				o := cl.Options()
				kind := "single"
				if o.Addr == "FailoverClient" {
					kind = "sentinel"
				} else if o.Addr != tc.addrs[0] {
					t.Errorf("addr %s, want %s", o.Addr, tc.addrs[0])
				}
				if kind != tc.kind || o.DB != tc.db || o.Password != tc.pass {
					t.Fatalf("%s client db %d password %q, want %s db %d password %q", kind, o.DB, o.Password, tc.kind, tc.db, tc.pass)
				}
				if o.ReadTimeout != 500*time.Millisecond || !o.ContextTimeoutEnabled || o.MaxRetries != 1 {
					t.Errorf("%s client not configured: %+v", kind, o)
				}
			default:
				t.Fatalf("%T", c)
			}
		})
	}
}

func TestNewClientRefuses(t *testing.T) {
	for _, url := range []string{
		"redis+cluster://n1:7000/1",           // a cluster has database 0 only
		"redis+cluster://n1:7000,n2",          // no port
		"redis+sentinel://s1:26379",           // no primary name
		"redis+sentinel://s1:26379/m/0/extra", // too much path
		"redis://n1:7000?addr=n2",             // bad addr
		"memcached://n1:11211",
	} {
		if c, err := NewClient(url); err == nil {
			c.Close()
			t.Errorf("NewClient(%q) accepted", url)
		}
	}
}

// TestClusterOptionsMatchSingle keeps the three kinds of client on the same
// latency settings: every field configure sets on a single-node client has
// the same value on a cluster client's options, except the retries the
// cluster client makes itself.
func TestClusterOptionsMatchSingle(t *testing.T) {
	var single redis.Options
	configure(&single)
	var cluster redis.ClusterOptions
	configureCluster(&cluster)
	sv, cv := reflect.ValueOf(single), reflect.ValueOf(cluster)
	for i := range sv.NumField() {
		f := sv.Type().Field(i)
		if !f.IsExported() || sv.Field(i).IsZero() || f.Name == "MaxRetries" {
			continue
		}
		c := cv.FieldByName(f.Name)
		if !c.IsValid() {
			t.Errorf("%s: no such cluster option", f.Name)
			continue
		}
		if !reflect.DeepEqual(c.Interface(), sv.Field(i).Interface()) {
			t.Errorf("%s: cluster %v, single %v", f.Name, c.Interface(), sv.Field(i).Interface())
		}
	}
}
