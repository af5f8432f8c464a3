package machine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/internal/redistest"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
)

// The environment of the allocator processes of
// TestAllocateRaceAcrossProcesses: the allocator's number selects the
// child's role, then the Redis address and the private network to
// allocate into.
const (
	allocatorEnv        = "METALKIT_TEST_ALLOCATOR"
	allocatorRedisEnv   = "METALKIT_TEST_ALLOCATOR_REDIS"
	allocatorNetworkEnv = "METALKIT_TEST_ALLOCATOR_NETWORK"
)

const (
	// raceRacks and racePorts give the partition 50 machines.
	raceRacks, racePorts = 5, 10
	raceMachines         = raceRacks * racePorts
	// raceAllocators each allocate raceMachines machines.
	raceAllocators = 2
	// readyKey is the Redis key (outside the store's keys) the allocators
	// count themselves in, so that they start allocating together.
	readyKey = "allocators-ready"
	// resultPrefix starts the line on which an allocator reports.
	resultPrefix = "allocations: "
)

// allocationResult is the outcome of one allocation as an allocator
// process reports it.
type allocationResult struct {
	Machine string       `json:"machine,omitempty"`
	IPs     []netip.Addr `json:"ips,omitempty"`
	ASN     uint32       `json:"asn,omitempty"`
	// NoMachine is set when the allocation failed with
	// ErrNoMachineAvailable.
	NoMachine bool `json:"no_machine,omitempty"`
	// Error is any other failure.
	Error string `json:"error,omitempty"`
}

// Scenario 18 across processes: on Redis, two processes allocate from a
// partition with 50 free machines, 50 allocations each, at the same time.
// Exactly 50 succeed and 50 find no machine; no machine is allocated twice,
// every IP belongs to exactly one allocated machine and the ASNs are
// unique. Freeing them all brings the pools, counters and indexes back to
// where they started.
func TestAllocateRaceAcrossProcesses(t *testing.T) {
	if role := os.Getenv(allocatorEnv); role != "" {
		runAllocator(t, role, os.Getenv(allocatorRedisEnv), os.Getenv(allocatorNetworkEnv))
		return
	}
	if testing.Short() {
		t.Skip("starts two child processes")
	}
	srv := redistest.Start(t)
	store, err := redisstore.New(srv.Client(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })

	l := newLab(t, store, &labOptions{racks: raceRacks, ports: racePorts})
	l.size("small", 1, 4)
	var ids []string
	waits := map[string]<-chan error{}
	for r := 1; r <= raceRacks; r++ {
		for p := range racePorts {
			id := fmt.Sprintf("m-%d-%02d", r, p)
			l.register(id, r, p, 4)
			waits[id] = l.wait(id)
			ids = append(ids, id)
		}
	}
	child := l.childNetwork("p1")
	start := state(t, store)
	startUsage := usages(t, l, child.ID, "internet")

	var cmds []*exec.Cmd
	var outs, errs []*strings.Builder
	for i := range raceAllocators {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAllocateRaceAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			allocatorEnv+"="+strconv.Itoa(i),
			allocatorRedisEnv+"="+srv.Addr,
			allocatorNetworkEnv+"="+child.ID,
		)
		out, stderr := &strings.Builder{}, &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, stderr
		require.NoError(t, cmd.Start())
		cmds, outs, errs = append(cmds, cmd), append(outs, out), append(errs, stderr)
	}
	var results []allocationResult
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "allocator %d:\n%s%s", i, outs[i], errs[i])
		got := allocatorResults(t, outs[i].String())
		require.Len(t, got, raceMachines, "allocator %d", i)
		won := 0
		for _, r := range got {
			if r.Machine != "" {
				won++
			}
		}
		t.Logf("allocator %d allocated %d machines", i, won)
		results = append(results, got...)
	}

	allocated := map[string]allocationResult{}
	owner := map[netip.Addr]string{}
	asns := map[uint32]string{}
	none := 0
	for _, r := range results {
		require.Empty(t, r.Error, "an allocation failed otherwise than finding no machine")
		if r.NoMachine {
			none++
			continue
		}
		_, twice := allocated[r.Machine]
		require.False(t, twice, "machine %s allocated twice", r.Machine)
		allocated[r.Machine] = r
		require.Len(t, r.IPs, 4, "machine %s: one IP per family of both networks", r.Machine)
		for _, a := range r.IPs {
			other, taken := owner[a]
			require.False(t, taken, "IP %s handed to %s and %s", a, other, r.Machine)
			owner[a] = r.Machine
		}
		other, taken := asns[r.ASN]
		require.False(t, taken, "ASN %d handed to %s and %s", r.ASN, other, r.Machine)
		asns[r.ASN] = r.Machine
	}
	assert.Len(t, allocated, raceMachines, "every machine allocated once")
	assert.Equal(t, raceMachines, none, "the other allocations find no machine")

	// The store agrees with what the allocators saw.
	for id, r := range allocated {
		m, err := l.svc.Get(l.ctx, id)
		require.NoError(t, err)
		require.True(t, m.Allocated(), id)
		assert.Equal(t, "p1", m.Allocation.Project)
		assert.Equal(t, r.IPs, ipsOf(m), id)
		for _, n := range m.Allocation.Networks {
			assert.Equal(t, r.ASN, n.ASN, id)
		}
	}
	ips, err := l.nets.ListIPs(l.ctx, network.IPFilter{})
	require.NoError(t, err)
	assert.Equal(t, len(owner), len(ips), "no IP besides the machines'")
	for _, ip := range ips {
		assert.Equal(t, owner[ip.IPAddress], ip.MachineID(), "IP %s", ip.IPAddress)
		assert.Len(t, machineTags(ip.Tags), 1, "IP %s belongs to exactly one machine", ip.IPAddress)
	}
	pool, err := ipamPool(t, l)
	require.NoError(t, err)
	assert.Equal(t, uint64(raceMachines), pool.Used)

	// Free them all; once the machines wait again, only the event
	// containers (each with its Machine Reclaim) differ from the start.
	for _, id := range ids {
		select {
		case err := <-waits[id]:
			require.NoError(t, err, "the wait of %s ends with its allocation", id)
		case <-time.After(10 * time.Second):
			t.Fatalf("the wait of %s did not end", id)
		}
		_, err := l.svc.Free(l.ctx, id)
		require.NoError(t, err)
		l.wait(id)
	}
	_, err = ipamPool(t, l)
	assert.ErrorIs(t, err, ipam.ErrNotFound, "every ASN went back and the pool with it")
	assert.Equal(t, startUsage, usages(t, l, child.ID, "internet"))
	end := state(t, store)
	assert.Empty(t, without(start, "machine/events").Diff(without(end, "machine/events"), 20))
	for _, id := range ids {
		c, err := l.svc.GetEvents(l.ctx, id)
		require.NoError(t, err)
		require.Len(t, c.Events, 1, id)
		assert.Equal(t, machine.EventMachineReclaim, c.Events[0].Event)
	}
}

// runAllocator is the child's side of TestAllocateRaceAcrossProcesses: it
// opens the store on Redis with a service of its own, waits until every
// allocator is ready, allocates raceMachines machines by size one after
// the other and prints the results as one JSON line.
func runAllocator(t *testing.T, role, addr, networkID string) {
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	store, err := redisstore.New(client, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	n, err := strconv.Atoi(role)
	require.NoError(t, err)
	clock := func() time.Time { return now }
	var mu sync.Mutex
	seq := 0
	ids := func() string {
		mu.Lock()
		defer mu.Unlock()
		seq++
		return fmt.Sprintf("allocator%d-%04d", n, seq)
	}
	trail, err := audit.New(store, &audit.Options{Clock: clock, Component: "allocator-" + role})
	require.NoError(t, err)
	svc := machine.New(store, &machine.Options{Clock: clock, IDs: ids, Trail: trail, Rand: rand.New(rand.NewPCG(uint64(n), 18))})
	ctx := audit.NewContext(context.Background(), audit.Actor{User: "allocator-" + role})

	require.NoError(t, client.Incr(ctx, readyKey).Err())
	require.Eventually(t, func() bool {
		v, err := client.Get(ctx, readyKey).Int()
		return err == nil && v >= raceAllocators
	}, 30*time.Second, time.Millisecond, "the other allocators did not start")

	results := make([]allocationResult, 0, raceMachines)
	for range raceMachines {
		m, err := svc.Allocate(ctx, allocation("p1", networkID, "internet"))
		switch {
		case errors.Is(err, machine.ErrNoMachineAvailable):
			results = append(results, allocationResult{NoMachine: true})
		case err != nil:
			results = append(results, allocationResult{Error: err.Error()})
		default:
			results = append(results, allocationResult{Machine: m.ID, IPs: ipsOf(m), ASN: m.Allocation.Networks[0].ASN})
		}
	}
	line, err := json.Marshal(results)
	require.NoError(t, err)
	fmt.Println(resultPrefix + string(line))
}

// allocatorResults reads the results an allocator printed.
func allocatorResults(t *testing.T, out string) []allocationResult {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			var rs []allocationResult
			require.NoError(t, json.Unmarshal([]byte(line), &rs))
			return rs
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("the allocator printed no results:\n%s", out)
	return nil
}

// machineTags returns the machine tags among tags.
func machineTags(tags []string) []string {
	var out []string
	for _, tag := range tags {
		if strings.HasPrefix(tag, network.MachineTagPrefix) {
			out = append(out, tag)
		}
	}
	return out
}

// usages returns the ipam usage of every prefix of the networks, as
// used IPs and used children per prefix.
func usages(t *testing.T, l *lab, networks ...string) map[netip.Prefix][2]string {
	t.Helper()
	out := map[netip.Prefix][2]string{}
	require.NoError(t, l.store.View(l.ctx, func(tx backends.Tx) error {
		for _, id := range networks {
			n, err := network.GetTx(tx, id)
			if err != nil {
				return err
			}
			for _, p := range n.Prefixes {
				u, err := ipam.GetUsage(tx, p)
				if err != nil {
					return err
				}
				out[p] = [2]string{u.UsedIPs.String(), u.UsedChildren.String()}
			}
		}
		return nil
	}))
	return out
}

// without returns snap without the named buckets.
func without(snap backendtest.Snapshot, buckets ...string) backendtest.Snapshot {
	out := backendtest.Snapshot{}
	for b, kv := range snap {
		out[b] = kv
	}
	for _, b := range buckets {
		delete(out, b)
	}
	return out
}
