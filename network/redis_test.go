package network_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/internal/redistest"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/network"
)

// redisNetwork makes, on a store over client, a super network of prefix
// (child length bits) and a child network of it, and returns the service
// and the child.
func redisNetwork(t *testing.T, client redis.UniversalClient, prefix string, bits int) (*network.Service, backends.Store, *network.Network) {
	t.Helper()
	st, err := redisstore.New(client, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	svc, child := childWithIPs(t, st, prefix, bits, 0)
	return svc, st, child
}

// checkRecount checks that the child's counters equal a recount of its IP
// records and returns the records by address.
func checkRecount(t *testing.T, svc *network.Service, child *network.Network) map[string]*network.IP {
	t.Helper()
	ips, err := svc.ListIPs(ctx, network.IPFilter{NetworkID: child.ID})
	require.NoError(t, err)
	byAddr := map[string]*network.IP{}
	for _, ip := range ips {
		require.NotContains(t, byAddr, ip.IPAddress.String(), "an address listed twice")
		byAddr[ip.IPAddress.String()] = ip
	}
	n, err := svc.Get(ctx, child.ID)
	require.NoError(t, err)
	require.EqualValues(t, len(ips)+2, n.Consumption.IPv4.UsedIPs, "used IPs (reserved included) against a recount of the records")
	return byAddr
}

// TestRedisLoad: 4 processes with 4 goroutines each allocate 250 IPs each
// in one network while a reader lists all the network's IPs again and
// again. Every allocation succeeds, no address is handed out twice, the
// counters equal a recount, and every listing succeeds. Latencies are
// logged.
func TestRedisLoad(t *testing.T) {
	if runChild(t) {
		return
	}
	const procs, goroutines, each = 4, 4, 250
	srv := redistest.Start(t)
	svc, _, child := redisNetwork(t, srv.Client(t), "10.0.0.0/16", 20)
	start := time.Now()
	kids := startChildren(t, procs, "TestRedisLoad", "allocate", srv.Addr, child.ID,
		fmt.Sprint(childGoroutinesEnv, "=", goroutines), fmt.Sprint(childCountEnv, "=", each))

	done := make(chan []childReport)
	go func() { done <- kids.wait() }()
	var reps []childReport
	lists := 0
	var listTimes []time.Duration
	for reps == nil {
		select {
		case reps = <-done:
		default:
			t0 := time.Now()
			ips, err := svc.ListIPs(ctx, network.IPFilter{NetworkID: child.ID})
			require.NoError(t, err, "listing %d during the load", lists+1)
			listTimes = append(listTimes, time.Since(t0))
			seen := map[netip.Addr]bool{}
			for _, ip := range ips {
				require.False(t, seen[ip.IPAddress], "listing %d shows %s twice", lists+1, ip.IPAddress)
				seen[ip.IPAddress] = true
			}
			lists++
		}
	}
	elapsed := time.Since(start)
	owner := map[string]string{}
	for _, r := range reps {
		require.Empty(t, r.Failures, "failed allocations")
		for _, a := range r.Acks {
			require.NotContains(t, owner, a.Addr, "address %s handed out twice", a.Addr)
			owner[a.Addr] = a.UUID
		}
	}
	require.Len(t, owner, procs*goroutines*each)
	stored := checkRecount(t, svc, child)
	require.Len(t, stored, len(owner))
	for addr, uuid := range owner {
		require.Equal(t, uuid, stored[addr].AllocationUUID, "record of %s", addr)
	}
	ds := latencies(reps)
	t.Logf("%d allocations by %d processes x %d goroutines in %v (%.0f/s): latency p50 %v, p99 %v, max %v",
		len(ds), procs, goroutines, elapsed.Round(time.Millisecond), float64(len(ds))/elapsed.Seconds(),
		percentile(ds, 50), percentile(ds, 99), ds[len(ds)-1])
	t.Logf("%d listings of the network during the load, each succeeded; the longest took %v", lists, slicesMax(listTimes))
}

func slicesMax(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// TestRedisViewNotStarved: a View that reads a network's 4,000 IPs
// completes, again and again, while 8 processes allocate and free IPs in
// the same network all the time.
func TestRedisViewNotStarved(t *testing.T) {
	if runChild(t) {
		return
	}
	srv := redistest.Start(t)
	svc, st, child := redisNetwork(t, srv.Client(t), "10.0.0.0/16", 20)
	allocateIPs(t, st, svc, child, 4000)
	// A client that counts what the listings cost.
	wire := &redistest.Wire{}
	reader := srv.Client(t)
	reader.AddHook(wire)
	rst, err := redisstore.New(reader, nil)
	require.NoError(t, err)
	rsvc := network.New(rst, nil)

	kids := startChildren(t, 8, "TestRedisViewNotStarved", "churn", srv.Addr, child.ID, childGoroutinesEnv+"=1")
	// Wait until the writers are busy.
	base, err := svc.Get(ctx, child.ID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		n, err := svc.Get(ctx, child.ID)
		return err == nil && n.Consumption.IPv4.ExactUsedIPs != base.Consumption.IPv4.ExactUsedIPs
	}, time.Minute, time.Millisecond)
	before := wire.Count()
	const lists = 5
	for i := range lists {
		short, cancel := context.WithTimeout(ctx, time.Minute)
		ips, err := rsvc.ListIPs(short, network.IPFilter{NetworkID: child.ID})
		cancel()
		require.NoError(t, err, "listing %d", i+1)
		require.GreaterOrEqual(t, len(ips), 4000, "listing %d", i+1)
		require.LessOrEqual(t, len(ips), 4008, "listing %d: more IPs than 8 writers can hold at once", i+1)
	}
	cost := wire.Count().Sub(before)
	kids.stop()
	churned := 0
	for _, r := range kids.wait() {
		for _, f := range r.Failures {
			require.True(t, f.Class == errdefs.ErrConflict.Error(), "a writer failed: %s", f.Msg)
		}
		churned += r.Churned
	}
	require.Positive(t, churned)
	t.Logf("%d listings of 4,000 IPs while 8 processes allocated and freed %d IPs: %.1f round trips and %d kB per listing",
		lists, churned, float64(cost.RoundTrips)/lists, cost.Bytes/lists/1000)
	checkRecount(t, svc, child)
}

// TestRedisRestart kills a durable redis-server (append-only file synced at
// every write) while 4 processes allocate IPs in one network, and starts it
// again on the same port and data. Every acknowledged allocation is there
// afterwards, every failure is ErrUnavailable (or a conflict that outlasted
// the retries), no address is handed out twice, the counters equal a
// recount, and the allocations go on by themselves once the server is back.
func TestRedisRestart(t *testing.T) {
	if runChild(t) {
		return
	}
	const procs, each = 4, 150
	srv := redistest.StartWith(t, &redistest.Options{Durable: true})
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	svc, _, child := redisNetwork(t, client, "10.0.0.0/16", 20)
	kids := startChildren(t, procs, "TestRedisRestart", "allocate", srv.Addr, child.ID,
		childGoroutinesEnv+"=1", fmt.Sprint(childCountEnv, "=", each), childTolerateEnv+"=1")
	require.Eventually(t, func() bool {
		n, err := svc.Get(ctx, child.ID)
		return err == nil && n.Consumption.IPv4.UsedIPs >= 2+procs*each/4
	}, 2*time.Minute, 5*time.Millisecond, "the allocations do not get going")
	srv.Kill(t)
	killed := time.Now()
	time.Sleep(300 * time.Millisecond)
	// Between killed and restarting the server is down: an acknowledgement
	// after restarting is an allocation made after the restart (Restart
	// returns once the server answers, which a child may notice first).
	restarting := time.Now()
	srv.Restart(t)
	restarted := time.Now()
	reps := kids.wait()

	owner := map[string]string{}
	failures := 0
	for i, r := range reps {
		require.Len(t, r.Acks, each, "child %d", i)
		for _, f := range r.Failures {
			require.True(t, f.Class == errdefs.ErrUnavailable.Error() || f.Class == errdefs.ErrConflict.Error(),
				"child %d: a failure that is neither unavailable nor a conflict: %s", i, f.Msg)
			failures++
		}
		after := 0
		for _, a := range r.Acks {
			require.NotContains(t, owner, a.Addr, "address %s handed out twice", a.Addr)
			owner[a.Addr] = a.UUID
			if a.At.After(restarting) {
				after++
			}
		}
		if len(r.Failures) > 0 {
			require.Positive(t, after, "child %d saw the server go away and allocated nothing after the restart", i)
		}
	}
	require.Positive(t, failures, "the kill went unnoticed")
	stored := checkRecount(t, svc, child)
	for addr, uuid := range owner {
		require.Contains(t, stored, addr, "acknowledged allocation %s is gone", addr)
		require.Equal(t, uuid, stored[addr].AllocationUUID, "record of %s", addr)
	}
	t.Logf("%d acknowledged allocations, %d stored (an allocation whose reply the kill cut off may be stored unacknowledged), %d failed calls; server down from %v to %v",
		len(owner), len(stored), failures, killed.Format("15:04:05.000"), restarted.Format("15:04:05.000"))
}

// faults is a go-redis hook that drops the connection at one step (a
// command or a pipeline) of the client's traffic: before the step is sent
// (the server never sees it) or after (the server ran it, the reply is
// lost).
type faults struct {
	mu     sync.Mutex
	conns  []*faultConn
	steps  atomic.Int64
	at     int64 // the step to fail; 0: none
	before bool
}

// arm counts steps from 0 again and fails step (0: none).
func (f *faults) arm(step int64, before bool) {
	f.mu.Lock()
	f.at, f.before = step, before
	f.mu.Unlock()
	f.steps.Store(0)
}

// disarm keeps the count but fails no step.
func (f *faults) disarm() {
	f.mu.Lock()
	f.at = 0
	f.mu.Unlock()
}

func (f *faults) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		fc := &faultConn{Conn: c}
		f.mu.Lock()
		f.conns = append(f.conns, fc)
		f.mu.Unlock()
		return fc, nil
	}
}

func (f *faults) step() {
	n := f.steps.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if n != f.at {
		return
	}
	mode := int32(dropRead)
	if f.before {
		mode = dropWrite
	}
	for _, c := range f.conns {
		c.mode.Store(mode)
	}
}

func (f *faults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { f.step(); return next(ctx, cmd) }
}

func (f *faults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { f.step(); return next(ctx, cmds) }
}

const (
	dropWrite = 1 // the next write fails and closes the connection
	dropRead  = 2 // the next read fails and closes the connection
)

type faultConn struct {
	net.Conn
	mode atomic.Int32
}

var errDropped = errors.New("connection dropped by the test")

func (c *faultConn) Write(p []byte) (int, error) {
	if c.mode.CompareAndSwap(dropWrite, 0) {
		_ = c.Conn.Close()
		return 0, errDropped
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Read(p []byte) (int, error) {
	if c.mode.CompareAndSwap(dropRead, 0) {
		_ = c.Conn.Close()
		return 0, errDropped
	}
	return c.Conn.Read(p)
}

// TestRedisFaults drops the connection at every step of network operations,
// before the step is sent and after: during reads, at the WATCH that goes
// with them and at EXEC. Every failure is ErrUnavailable, never a domain
// error; the store then holds either the whole change or none of it, its
// counters equal a recount, and the next call succeeds.
func TestRedisFaults(t *testing.T) {
	srv := redistest.Start(t)
	hook := &faults{}
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	client.AddHook(hook)
	t.Cleanup(func() { _ = client.Close() })
	svc, st, child := redisNetwork(t, client, "10.0.0.0/16", 22)
	var ip *network.IP
	allocate := func() (err error) {
		ip, err = svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
		return err
	}
	ops := []struct {
		name    string
		prepare func() error // runs before the step count starts
		run     func() error
	}{
		{"AllocateIP", nil, allocate},
		{"FreeIP", allocate, func() error { _, err := svc.FreeIP(ctx, ip.IPAddress); return err }},
		{"AllocateChild", nil, func() error {
			_, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
			return err
		}},
		{"ListIPs", nil, func() error { _, err := svc.ListIPs(ctx, network.IPFilter{NetworkID: child.ID}); return err }},
		{"List", nil, func() error { _, err := svc.List(ctx, network.Filter{}); return err }},
	}
	for _, op := range ops {
		attempt := func(k int64, before bool) error {
			if op.prepare != nil {
				require.NoError(t, op.prepare(), "%s: prepare", op.name)
			}
			hook.arm(k, before)
			defer hook.disarm()
			return op.run()
		}
		// Learn how many steps the operation takes when nothing fails.
		require.NoError(t, attempt(0, false), op.name)
		steps := hook.steps.Load()
		require.Positive(t, steps)
		failed := 0
		for k := int64(1); k <= steps; k++ {
			for _, before := range []bool{true, false} {
				name := fmt.Sprintf("%s, step %d of %d, dropped %s sending", op.name, k, steps, map[bool]string{true: "before", false: "after"}[before])
				if op.prepare != nil {
					require.NoError(t, op.prepare(), "%s: prepare", name)
				}
				snapBefore := backendtest.Dump(t, st)
				hook.arm(k, before)
				err := op.run()
				hook.disarm()
				if err != nil {
					failed++
					require.ErrorIs(t, err, backends.ErrUnavailable, name)
					require.Equal(t, errdefs.ErrUnavailable, errdefs.Class(err), "%s: %v", name, err)
				}
				if d := snapBefore.Diff(backendtest.Dump(t, st), 20); err != nil && d != "" {
					// Only a lost reply of the commit may leave a change,
					// and then the whole of it (the recount below).
					require.False(t, before, "%s changed the store although the commit was never sent:\n%s", name, d)
					require.Equal(t, steps, k, "%s changed the store before its commit", name)
				}
				checkRecount(t, svc, child)
				checkEngine(t, st)
				require.NoError(t, attempt(0, false), "%s: the next call", name)
			}
		}
		// A drop at any step but the release of a View's watches fails
		// the call.
		require.GreaterOrEqual(t, failed, int(steps), "%s: the drops went unnoticed", op.name)
		t.Logf("%s: %d steps, each dropped before and after sending: %d calls failed", op.name, steps, failed)
	}
}

// checkEngine checks that every child network's prefix counters equal its
// stored IPs and that the super network counts every child.
func checkEngine(t *testing.T, st backends.Store) {
	t.Helper()
	svc := network.New(st, nil)
	nets, err := svc.List(ctx, network.Filter{})
	require.NoError(t, err)
	children := 0
	for _, n := range nets {
		if n.ParentNetworkID != "" {
			children++
			checkRecount(t, svc, n)
		}
	}
	require.NoError(t, st.View(ctx, func(tx backends.Tx) error {
		for _, n := range nets {
			if n.PrivateSuper {
				u, err := ipam.GetUsage(tx, n.Prefixes[0])
				if err != nil {
					return err
				}
				assert.EqualValues(t, children, u.UsedChildren.Int64(), "children of the super network")
			}
		}
		return nil
	}))
}

// TestWorkedExampleOnRedisCluster runs the network flow (create, allocate
// a child, IPs of both families, free) on a three-master Redis Cluster.
func TestWorkedExampleOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Redis Cluster test in -short mode")
	}
	client := redistest.ClusterClient(t, redistest.StartCluster(t, 3))
	for _, prefix := range []string{"net-a", "net-b", "net-c"} {
		t.Run(prefix, func(t *testing.T) {
			st, err := redisstore.New(client, &redisstore.Options{KeyPrefix: prefix})
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			workedExample(t, st)
			ips, err := network.New(st, nil).ListIPs(ctx, network.IPFilter{})
			require.NoError(t, err)
			require.Empty(t, ips)
		})
	}
}
