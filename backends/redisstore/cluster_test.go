package redisstore_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/internal/redistest"
)

// TestCluster runs the conformance suite through a ClusterClient on a
// private three-master Redis Cluster; every store of the suite has its own
// prefix and therefore its own slot.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Redis Cluster test in -short mode")
	}
	addrs := startCluster(t, 3)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = client.Close() })

	backendtest.Run(t, func(t *testing.T) backends.Store {
		return newStore(t, client, nil)
	})

	t.Run("StoresSpreadOverMasters", func(t *testing.T) {
		// Many stores land on different masters, while each store keeps
		// all of its keys on one.
		masters := map[string]bool{}
		for i := 0; i < 12; i++ {
			prefix := uniquePrefix()
			s := newStore(t, client, &redisstore.Options{KeyPrefix: prefix})
			require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
				for _, b := range []string{"x", "y", "z"} {
					if err := tx.Put(b, []byte("k"), []byte("v")); err != nil {
						return err
					}
				}
				return nil
			}))
			owners := map[string]bool{}
			require.NoError(t, client.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
				keys, err := node.Keys(ctx, "{"+prefix+"}*").Result()
				if err != nil {
					return err
				}
				if len(keys) > 0 {
					assert.Len(t, keys, 10, "three values, indexes and versions, and the bucket registry")
					owners[node.Options().Addr] = true
				}
				return nil
			}))
			require.Len(t, owners, 1, "store %q spans several masters", prefix)
			for a := range owners {
				masters[a] = true
			}
		}
		assert.Greater(t, len(masters), 1, "twelve stores all on one master")
	})
}

// startCluster starts n redis-server processes in cluster mode on free
// loopback ports, joins them with redis-cli --cluster create (all masters,
// no replicas), waits until the cluster is up, and stops the servers by
// process id when the test ends. Like redistest.Start it skips the test
// when the binaries are missing, unless METALKIT_REQUIRE_REDIS=1.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	server := redistest.Binary(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv(redistest.RequireEnv) == "1" {
			t.Fatalf("redis-cli not found on PATH and %s=1: %v", redistest.RequireEnv, err)
		}
		t.Skipf("skipping: redis-cli not found on PATH (set %s=1 to fail instead)", redistest.RequireEnv)
	}
	var addrs []string
	for i := 0; i < n; i++ {
		port, bus := freePort(t), freePort(t)
		dir := t.TempDir()
		out := &bytes.Buffer{}
		cmd := exec.Command(server,
			"--port", strconv.Itoa(port),
			"--cluster-port", strconv.Itoa(bus),
			"--bind", "127.0.0.1",
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--dir", dir,
		)
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { stopProcess(cmd) })
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		waitPing(t, addr, out)
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)

	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				_ = c.Close()
				t.Fatalf("cluster node %s not ready: %v %s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
	return addrs
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPing(t *testing.T, addr string, out *bytes.Buffer) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server at %s did not answer: %v; output: %s", addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopProcess ends a server this test started, by its process id.
func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
