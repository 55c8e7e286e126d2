package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// redisCluster is a local Redis Cluster: three masters, a replica each.
type redisCluster struct {
	t     testing.TB
	nodes []*redisServer
}

// freeClusterPort finds a loopback port p such that p and its cluster bus
// port p+10000 are both free.
func freeClusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if p+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return p
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

// startCluster starts six redis-server processes in cluster mode and joins
// them with redis-cli --cluster create.
func startCluster(t testing.TB) *redisCluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-cli is not installed; .ci/run installs redis-server (and redis-tools) with apt-get")
		}
		t.Skip("redis-cli not found: install Debian's redis-server package to run this test")
	}
	dir := t.TempDir()
	c := &redisCluster{t: t}
	var addrs []string
	for i := range 6 {
		r := startRedisWith(t, freeClusterPort(t), "--cluster-enabled", "yes",
			"--cluster-config-file", dir+"/nodes-"+strconv.Itoa(i)+".conf",
			"--cluster-node-timeout", "1000", "--dir", dir,
			// A replica takes over however long its master was quiet.
			"--cluster-replica-validity-factor", "0")
		c.nodes = append(c.nodes, r)
		addrs = append(addrs, r.addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitHealthy(t)
	return c
}

func (c *redisCluster) addrs() []string {
	var a []string
	for _, n := range c.nodes {
		a = append(a, n.addr())
	}
	return a
}

// waitHealthy waits until every live node reports cluster_state:ok and
// every slot is served by a live master.
func (c *redisCluster) waitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(6 * wait)
	for {
		if err := c.healthy(); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the cluster did not become healthy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eachLive calls fn with a client of each live node, until fn fails or
// says stop.
func (c *redisCluster) eachLive(fn func(ctx context.Context, n *redisServer, rdb *goredis.Client) (stop bool, err error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		rdb := goredis.NewClient(&goredis.Options{Addr: n.addr(), MaxRetries: -1})
		stop, err := fn(ctx, n, rdb)
		rdb.Close()
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// healthy checks that every live node reports cluster_state:ok.
func (c *redisCluster) healthy() error {
	return c.eachLive(func(ctx context.Context, n *redisServer, rdb *goredis.Client) (bool, error) {
		info, err := rdb.ClusterInfo(ctx).Result()
		if err == nil && !strings.Contains(info, "cluster_state:ok") {
			err = fmt.Errorf("%s: cluster_state is not ok", n.addr())
		}
		return false, err
	})
}

// master returns a node that is a master now.
func (c *redisCluster) master(t *testing.T) *redisServer {
	t.Helper()
	var m *redisServer
	err := c.eachLive(func(ctx context.Context, n *redisServer, rdb *goredis.Client) (bool, error) {
		role, err := rdb.Do(ctx, "ROLE").Slice()
		if err == nil && len(role) > 0 && role[0] == "master" {
			m = n
			return true, nil
		}
		return false, nil
	})
	if err != nil || m == nil {
		t.Fatalf("no master: %v", err)
	}
	return m
}

// waitFailedOver waits until the cluster has taken victim's slots from it
// (its replica is master in its place) and is healthy again.
func (c *redisCluster) waitFailedOver(t *testing.T, victim string) {
	t.Helper()
	deadline := time.Now().Add(6 * wait)
	for {
		err := c.healthy()
		if err == nil {
			err = c.slotsMoved(victim)
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not fail over from %s: %v", victim, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slotsMoved checks that a live node's view of the cluster gives victim
// no slot.
func (c *redisCluster) slotsMoved(victim string) error {
	asked := false
	err := c.eachLive(func(ctx context.Context, _ *redisServer, rdb *goredis.Client) (bool, error) {
		nodes, err := rdb.ClusterNodes(ctx).Result()
		if err != nil {
			return true, err
		}
		asked = true
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) > 8 && strings.HasPrefix(f[1], victim+"@") {
				return true, fmt.Errorf("%s still owns slots %s", victim, f[8])
			}
		}
		return true, nil
	})
	if err == nil && !asked {
		err = errors.New("no live node")
	}
	return err
}
