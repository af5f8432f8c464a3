package redistest

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartCluster starts n redis-server processes in cluster mode on free
// loopback ports, joins them with redis-cli --cluster create (all masters,
// no replicas), waits until every node reports the cluster up, and stops
// the servers by process id when the test ends. It returns the nodes'
// addresses. Like Start it skips tb when redis-server or redis-cli is
// missing, unless METALKIT_REQUIRE_REDIS=1.
func StartCluster(tb testing.TB, n int) []string {
	tb.Helper()
	server := Binary(tb)
	cli := lookPath(tb, "redis-cli")
	var addrs []string
	for i := 0; i < n; i++ {
		port, bus := mustFreePort(tb), mustFreePort(tb)
		cmd, exited, out, err := startProcess(server, []string{
			"--port", strconv.Itoa(port),
			"--cluster-port", strconv.Itoa(bus),
			"--bind", "127.0.0.1",
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--dir", tb.TempDir(),
		})
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		tb.Cleanup(func() { stopProcess(cmd, exited) })
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := waitReady(addr, exited, out, 10*time.Second); err != nil {
			tb.Fatalf("redistest: cluster node %s: %v", addr, err)
		}
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				_ = c.Close()
				tb.Fatalf("redistest: cluster node %s not ready: %v %s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
	return addrs
}

// ClusterClient returns a cluster client for the nodes StartCluster
// returned, closed when the test ends.
func ClusterClient(tb testing.TB, addrs []string) *redis.ClusterClient {
	tb.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}
