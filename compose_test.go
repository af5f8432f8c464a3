package metalkit_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// setupLab creates the partition's super network and two leaves, each
// with one port that machine m1 sees over LLDP.
func setupLab(ctx context.Context, kit *metalkit.Kit) error {
	_, err := kit.Networks.Create(ctx, network.CreateRequest{
		ID: "super", PartitionID: "fra-equ01", PrivateSuper: true,
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
		DefaultChildPrefixLength: network.ChildLengths{network.IPv4: 22, network.IPv6: 96},
	})
	if err != nil {
		return err
	}
	for _, leaf := range []string{"leaf01", "leaf02"} {
		_, _, err := kit.Switches.Register(ctx, switchstate.RegisterRequest{
			ID: leaf, PartitionID: "fra-equ01", RackID: "rack01",
			OS:   &switchstate.OS{Vendor: switchstate.VendorSONiC},
			Nics: []switchstate.RegisterNic{{Name: "Ethernet0", Identifier: leaf + "-Ethernet0"}},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// m1Hardware returns machine m1's hardware: its NICs with their LLDP
// neighbours, one on each leaf. Every call returns new values.
func m1Hardware() *machine.Hardware {
	return &machine.Hardware{
		CPUs: []machine.CPU{{Model: "EPYC", Cores: 4}},
		NICs: []machine.NIC{
			{Name: "lan0", MacAddress: "aa:00:00:00:00:01", Neighbors: []machine.Neighbor{{Identifier: "leaf01-Ethernet0", Hostname: "leaf01"}}},
			{Name: "lan1", MacAddress: "aa:00:00:00:00:02", Neighbors: []machine.Neighbor{{Identifier: "leaf02-Ethernet0", Hostname: "leaf02"}}},
		},
	}
}

// provision is one cross-package transaction: a child network for a
// project, one IP of each family in it, the machine registered (and so
// wired to its switches) with its ports put into the child's VRF, and a
// record of the embedding program's own. failLast
// makes the last step fail.
func provision(tx *metalkit.Tx, failLast bool) error {
	child, err := tx.Networks.AllocateChild(network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p1", Name: "m1-net"})
	if err != nil {
		return err
	}
	for _, f := range []network.AddressFamily{network.IPv4, network.IPv6} {
		if _, err := tx.Networks.AllocateIP(network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p1", AddressFamily: f, MachineID: "m1"}); err != nil {
			return err
		}
	}
	if _, _, err := tx.Machines.Register(machine.RegisterRequest{ID: "m1", PartitionID: "fra-equ01", Hardware: m1Hardware(), BIOS: &machine.BIOS{}}); err != nil {
		return err
	}
	if err := tx.Switches.SetMachineVRF("m1", switchstate.TenantVRF(child.VRF)); err != nil {
		return err
	}
	if failLast {
		return errors.New("inventory system refused the machine")
	}
	return tx.Backend().Put("app/machines", []byte("m1"), []byte(child.ID))
}

// A cross-package transaction: network, switch and the caller's own keys
// commit together, each operation with its audit entry.
func ExampleKit_Update() {
	ctx := audit.NewContext(context.Background(), audit.Actor{User: "provisioner", RequestID: "rq-1"})
	kit, err := metalkit.Open(memstore.New(), &metalkit.Options{IDs: sequence("id")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kit.Close()
	if err := setupLab(ctx, kit); err != nil {
		fmt.Println(err)
		return
	}

	err = kit.Update(ctx, func(tx *metalkit.Tx) error { return provision(tx, false) })
	fmt.Println("committed:", err == nil)

	_ = kit.View(ctx, func(tx *metalkit.Tx) error {
		ips, _ := tx.Networks.ListIPs(network.IPFilter{MachineID: "m1"})
		for _, ip := range ips {
			fmt.Println("ip", ip.IPAddress, ip.NetworkID)
		}
		sw, _ := tx.Switches.Get("leaf01")
		fmt.Println("leaf01", sw.Nics[0].Name, "vrf", sw.Nics[0].Vrf)
		v, _ := tx.Backend().Get("app/machines", []byte("m1"))
		fmt.Println("own key", string(v))
		return nil
	})
	res, _ := kit.Trail.Search(ctx, audit.Filter{RequestID: "rq-1", Type: audit.TypeEvent})
	for i := len(res.Entries) - 1; i >= 0; i-- {
		fmt.Println("event", res.Entries[i].Detail, res.Entries[i].Path)
	}
	// Output:
	// committed: true
	// ip 10.0.0.1 id-1
	// ip 2001:db8:0:10::1 id-1
	// leaf01 Ethernet0 vrf vrf1
	// own key id-1
	// event network.create network/super
	// event switch.register switch/leaf01
	// event switch.register switch/leaf02
	// event network.allocatechild network/id-1
	// event ip.allocate ip/10.0.0.1
	// event ip.allocate ip/2001:db8:0:10::1
	// event machine.register machine/m1
}

// sequence returns ids prefix-1, prefix-2, ...
func sequence(prefix string) func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("%s-%d", prefix, n)
	}
}

// A transaction whose last step fails leaves the store byte-identical and
// writes no audit entry; the same transaction succeeding writes every
// operation's entry exactly once, also when the store retries it.
func TestCrossPackageTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		ctx := audit.NewContext(context.Background(), audit.Actor{User: "provisioner", RequestID: "rq-x"})
		kit, err := metalkit.Open(s, nil)
		require.NoError(t, err)
		require.NoError(t, setupLab(context.Background(), kit))

		before := backendtest.Dump(t, s)
		err = kit.Update(ctx, func(tx *metalkit.Tx) error { return provision(tx, true) })
		require.EqualError(t, err, "inventory system refused the machine")
		backendtest.Unchanged(t, before, s)
		res, err := kit.Trail.Search(ctx, audit.Filter{RequestID: "rq-x"})
		require.NoError(t, err)
		assert.Empty(t, res.Entries, "a failed transaction records nothing")

		runs := 0
		err = kit.Update(ctx, func(tx *metalkit.Tx) error {
			runs++
			if err := provision(tx, false); err != nil {
				return err
			}
			if runs == 1 {
				// Make the store run the function again, as an optimistic
				// store does after a conflict: a rolled-back attempt.
				return errRetryOnce
			}
			return nil
		})
		require.ErrorIs(t, err, errRetryOnce)
		backendtest.Unchanged(t, before, s)
		require.NoError(t, kit.Update(ctx, func(tx *metalkit.Tx) error { return provision(tx, false) }))

		res, err = kit.Trail.Search(ctx, audit.Filter{RequestID: "rq-x"})
		require.NoError(t, err)
		count := map[string]int{}
		for _, e := range res.Entries {
			count[e.Detail]++
			assert.Equal(t, "provisioner", e.User)
		}
		assert.Equal(t, map[string]int{"network.allocatechild": 1, "ip.allocate": 2, "machine.register": 1}, count)
	})
}

var errRetryOnce = errors.New("attempt rolled back")

// TestKitOptionsReachEveryService: the clock and id source of
// metalkit.Options reach the network and switch services and the trail.
func TestKitOptionsReachEveryService(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2024, 5, 10, 9, 0, 0, 0, time.UTC)
	kit, err := metalkit.Open(memstore.New(), &metalkit.Options{Clock: func() time.Time { return at }, IDs: sequence("n")})
	require.NoError(t, err)
	require.NoError(t, setupLab(ctx, kit))
	child, err := kit.Networks.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p1"})
	require.NoError(t, err)
	assert.Equal(t, "n-1", child.ID)
	assert.Equal(t, at, child.Created)
	res, err := kit.Trail.Search(ctx, audit.Filter{})
	require.NoError(t, err)
	require.NotEmpty(t, res.Entries)
	assert.Equal(t, at, res.Entries[0].Timestamp)
	st, err := kit.Switches.Notify(ctx, "leaf01", switchstate.NotifyRequest{SyncDuration: time.Second})
	require.NoError(t, err)
	assert.Equal(t, at, st.LastSync.Time)
	_, err = kit.IPAM.Usage(ctx, child.Prefixes[0])
	require.NoError(t, err)
}

// TestErrorClasses: a caller tests the class of an error without importing
// the package that returned it.
func TestErrorClasses(t *testing.T) {
	ctx := context.Background()
	kit, err := metalkit.Open(memstore.New(), nil)
	require.NoError(t, err)
	_, err = kit.Networks.Get(ctx, "nope")
	assert.ErrorIs(t, err, errdefs.ErrNotFound)
	_, err = kit.Networks.Create(ctx, network.CreateRequest{Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/30")}, ID: "tiny"})
	require.NoError(t, err)
	_, err = kit.Networks.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: "tiny", ProjectID: "p"})
	require.NoError(t, err)
	_, err = kit.Networks.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: "tiny", ProjectID: "p"})
	require.NoError(t, err)
	_, err = kit.Networks.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: "tiny", ProjectID: "p"})
	assert.ErrorIs(t, err, errdefs.ErrExhausted)
	assert.ErrorIs(t, err, network.ErrExhausted, "exhaustion without importing ipam")
	_, err = kit.Switches.Get(ctx, "a\x00b")
	assert.ErrorIs(t, err, errdefs.ErrInvalidArgument)
	require.NoError(t, kit.Close())
	_, err = kit.Networks.Get(ctx, "tiny")
	assert.ErrorIs(t, err, errdefs.ErrUnavailable, "a closed store is unavailable, not a missing network")
	assert.NotErrorIs(t, err, errdefs.ErrNotFound)
}
