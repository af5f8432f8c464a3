package metalkit_test

import (
	"context"
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
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

var faultClock = time.Date(2024, 5, 10, 9, 0, 0, 0, time.UTC)

// openDeterministic opens a kit whose clock, ids and audit ids repeat on
// every open, so that two runs of one operation write the same bytes.
func openDeterministic(t testing.TB, s backends.Store, first int) *metalkit.Kit {
	t.Helper()
	n, an := first, first
	kit, err := metalkit.Open(s, &metalkit.Options{
		Clock: func() time.Time { return faultClock },
		IDs:   func() string { n++; return fmt.Sprintf("id-%d", n) },
		Audit: &audit.Options{Component: "test", IDs: func() string {
			an++
			return fmt.Sprintf("01900000-0000-7000-8000-%012d", an)
		}},
	})
	require.NoError(t, err)
	return kit
}

// faultBase builds the state every faulted operation starts from and
// returns its snapshot: networks, an IP, switches, sizes, a reservation, a
// waiting machine and an allocated one.
func faultBase(t *testing.T) backendtest.Snapshot {
	t.Helper()
	s := memstore.New()
	kit := openDeterministic(t, s, 0)
	ctx := audit.NewContext(context.Background(), audit.Actor{User: "admin", Admin: true})
	require.NoError(t, setupLab(ctx, kit))
	_, err := kit.Networks.Create(ctx, network.CreateRequest{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("185.1.2.0/24")}})
	require.NoError(t, err)
	_, err = kit.Networks.Create(ctx, network.CreateRequest{ID: "underlay", PartitionID: "fra-equ01", Underlay: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.255.0.0/24")}})
	require.NoError(t, err)
	child, err := kit.Networks.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p1"})
	require.NoError(t, err)
	require.Equal(t, "id-1", child.ID)
	_, err = kit.Networks.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: "id-1", ProjectID: "p1", Address: netip.MustParseAddr("10.0.0.5")})
	require.NoError(t, err)
	p9, err := kit.Networks.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p9"})
	require.NoError(t, err)
	require.Equal(t, "id-3", p9.ID)
	_, err = kit.Machines.CreateSize(ctx, machine.Size{ID: "small", Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: 1, Max: 8}}})
	require.NoError(t, err)
	_, err = kit.Machines.CreateReservation(ctx, machine.SizeReservation{ID: "r1", SizeID: "small", PartitionIDs: []string{"fra-equ01"}, ProjectID: "p9", Amount: 1})
	require.NoError(t, err)
	// m1 is allocated, m2 (on other ports) waits.
	_, _, err = kit.Machines.Register(ctx, machine.RegisterRequest{ID: "m1", PartitionID: "fra-equ01", Hardware: m1Hardware(), BIOS: &machine.BIOS{}})
	require.NoError(t, err)
	_, err = kit.Machines.Allocate(ctx, machine.AllocateRequest{UUID: "m1", ProjectID: "p1", ImageID: "u", Networks: []machine.AllocationNetwork{{NetworkID: "id-1"}}})
	require.NoError(t, err)
	for _, leaf := range []string{"leaf01", "leaf02"} {
		_, _, err := kit.Switches.Register(ctx, switchstate.RegisterRequest{ID: leaf, PartitionID: "fra-equ01", RackID: "rack01",
			OS: &switchstate.OS{Vendor: switchstate.VendorSONiC}, Nics: []switchstate.RegisterNic{
				{Name: "Ethernet0", Identifier: leaf + "-Ethernet0"}, {Name: "Ethernet4", Identifier: leaf + "-Ethernet4"}}})
		require.NoError(t, err)
	}
	hw := m1Hardware()
	for i := range hw.NICs {
		hw.NICs[i].MacAddress = fmt.Sprintf("aa:00:00:00:01:%02d", i)
		hw.NICs[i].Neighbors[0].Identifier = hw.NICs[i].Neighbors[0].Hostname + "-Ethernet4"
	}
	_, _, err = kit.Machines.Register(ctx, machine.RegisterRequest{ID: "m2", PartitionID: "fra-equ01", Hardware: hw, BIOS: &machine.BIOS{}})
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _, _ = kit.Machines.Wait(wctx, "m2"); close(done) }()
	require.Eventually(t, func() bool { m, _ := kit.Machines.Get(ctx, "m2"); return m.Waiting }, 5*time.Second, time.Millisecond)
	snap := backendtest.Dump(t, s)
	cancel()
	<-done
	return snap
}

// restore writes a snapshot into a new memory store.
func restore(t testing.TB, snap backendtest.Snapshot) backends.Store {
	t.Helper()
	s := memstore.New()
	require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
		for b, kv := range snap {
			for k, v := range kv {
				if err := tx.Put(b, []byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	return s
}

// mutations are every mutating operation of every service that runs in
// one transaction, each expected to succeed on the base state.
func mutations() []struct {
	name string
	op   func(ctx context.Context, k *metalkit.Kit) error
} {
	desc := "changed"
	return []struct {
		name string
		op   func(ctx context.Context, k *metalkit.Kit) error
	}{
		{"network.create", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Networks.Create(ctx, network.CreateRequest{ID: "ext2", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, VRF: 7})
			return err
		}},
		{"network.update", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Networks.Update(ctx, network.UpdateRequest{ID: "internet", Description: &desc,
				Prefixes: []netip.Prefix{netip.MustParsePrefix("185.1.2.0/24"), netip.MustParsePrefix("185.1.3.0/24")}})
			return err
		}},
		{"network.allocatechild", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Networks.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p2"})
			return err
		}},
		{"network.delete", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Networks.Delete(ctx, "internet")
			return err
		}},
		{"ip.allocate", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Networks.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: "id-1", ProjectID: "p1", AddressFamily: network.IPv6})
			return err
		}},
		{"ip.update", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Networks.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: netip.MustParseAddr("10.0.0.5"), Description: &desc})
			return err
		}},
		{"ip.free", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Networks.FreeIP(ctx, netip.MustParseAddr("10.0.0.5"))
			return err
		}},
		{"ipam.createpool", func(ctx context.Context, k *metalkit.Kit) error { return k.IPAM.CreatePool(ctx, "own", 1, 10) }},
		{"switch.register", func(ctx context.Context, k *metalkit.Kit) error {
			_, _, err := k.Switches.Register(ctx, switchstate.RegisterRequest{ID: "leaf03", PartitionID: "fra-equ01", RackID: "rack02",
				OS: &switchstate.OS{Vendor: switchstate.VendorSONiC}, Nics: []switchstate.RegisterNic{{Name: "Ethernet0", Identifier: "x"}}})
			return err
		}},
		{"switch.notify", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Switches.Notify(ctx, "leaf01", switchstate.NotifyRequest{SyncDuration: time.Second,
				PortStates:    map[string]switchstate.PortState{"Ethernet0": switchstate.PortUp},
				BGPPortStates: map[string]switchstate.BGPPortState{"Ethernet0": {BgpState: switchstate.BGPEstablished}}})
			return err
		}},
		{"switch.toggle", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Switches.Toggle(ctx, "leaf01", "Ethernet4", switchstate.PortDown)
			return err
		}},
		{"machine.setstate", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.SetState(ctx, "m2", "reserved", "maintenance")
			return err
		}},
		{"machine.event", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.Event(ctx, "m2", "Installing", "")
			return err
		}},
		{"machine.allocate", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.Allocate(ctx, machine.AllocateRequest{PartitionID: "fra-equ01", SizeID: "small", ProjectID: "p9", ImageID: "u",
				Networks: []machine.AllocationNetwork{{NetworkID: "id-3"}, {NetworkID: "internet"}}, Name: "x"})
			return err
		}},
		{"firewall.allocate", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.Allocate(ctx, machine.AllocateRequest{UUID: "m2", ProjectID: "p1", ImageID: "u", Role: machine.RoleFirewall,
				Networks: []machine.AllocationNetwork{{NetworkID: "id-1"}, {NetworkID: "internet"}}})
			return err
		}},
		{"machine.report", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.Report(ctx, "m1", machine.ReportRequest{ConsolePassword: "pw"})
			return err
		}},
		{"machine.reinstall", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.Reinstall(ctx, "m1", "debian")
			return err
		}},
		{"machine.update", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.Update(ctx, machine.UpdateRequest{ID: "m1", Tags: []string{"team=web"}})
			return err
		}},
		{"machine.free", func(ctx context.Context, k *metalkit.Kit) error { _, err := k.Machines.Free(ctx, "m1"); return err }},
		{"size.update", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.UpdateSize(ctx, machine.Size{ID: "small", Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: 1, Max: 16}}})
			return err
		}},
		{"sizereservation.delete", func(ctx context.Context, k *metalkit.Kit) error {
			_, err := k.Machines.DeleteReservation(ctx, "r1")
			return err
		}},
		{"kit.update", func(ctx context.Context, k *metalkit.Kit) error {
			return k.Update(ctx, func(tx *metalkit.Tx) error {
				c, err := tx.Networks.AllocateChild(network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p3"})
				if err != nil {
					return err
				}
				if _, err := tx.Networks.AllocateIP(network.AllocateIPRequest{NetworkID: c.ID, ProjectID: "p3"}); err != nil {
					return err
				}
				return tx.Backend().Put("app/children", []byte("p3"), []byte(c.ID))
			})
		}},
	}
}

// TestFaultAtEveryPosition runs every mutating operation with a fault at
// every read, write and commit it reaches (an error, a panic, a lost
// commit reply): afterwards the store is byte-identical to before, or, for
// a lost reply, holds exactly what the operation commits without a fault;
// and the consistency check finds nothing.
func TestFaultAtEveryPosition(t *testing.T) {
	base := faultBase(t)
	ctx := audit.NewContext(context.Background(), audit.Actor{User: "admin", Admin: true})
	for _, m := range mutations() {
		t.Run(m.name, func(t *testing.T) {
			// The clean run tells what the operation reads, writes and
			// commits, and what it leaves.
			clean := backendtest.NewFaulty(restore(t, base))
			require.NoError(t, m.op(ctx, openDeterministic(t, clean, 1000)))
			counts := clean.Counts()
			after := backendtest.Dump(t, clean)
			require.Equal(t, 1, counts.Commits, "one transaction")
			var faults []backendtest.Fault
			for n := 1; n <= counts.Reads; n++ {
				faults = append(faults, backendtest.Fault{Kind: backendtest.FailRead, N: n}, backendtest.Fault{Kind: backendtest.PanicRead, N: n})
			}
			for n := 1; n <= counts.Writes; n++ {
				faults = append(faults, backendtest.Fault{Kind: backendtest.FailWrite, N: n}, backendtest.Fault{Kind: backendtest.PanicWrite, N: n})
			}
			faults = append(faults, backendtest.Fault{Kind: backendtest.FailCommit, N: 1}, backendtest.Fault{Kind: backendtest.LoseCommitReply, N: 1})
			t.Logf("%d reads, %d writes: %d faulted runs", counts.Reads, counts.Writes, len(faults))
			for _, fault := range faults {
				s := backendtest.NewFaulty(restore(t, base))
				kit := openDeterministic(t, s, 1000)
				s.Inject(fault)
				err := runRecovered(func() error { return m.op(ctx, kit) })
				require.True(t, s.Fired(), "%s was not reached", fault)
				require.Error(t, err, fault.String())
				got := backendtest.Dump(t, s)
				if fault.Kind == backendtest.LoseCommitReply {
					assert.ErrorIs(t, err, errdefs.ErrUnavailable, fault.String())
					assert.Empty(t, after.Diff(got, 3), "%s: the committed operation is whole", fault)
				} else {
					if fault.Kind != backendtest.PanicRead && fault.Kind != backendtest.PanicWrite {
						assert.ErrorIs(t, err, errdefs.ErrUnavailable, "%s: %v", fault, err)
					}
					assert.Empty(t, base.Diff(got, 3), "%s: nothing written", fault)
				}
				s.Disarm()
				fs, err := metalkit.CheckStore(context.Background(), s, check.Options{})
				require.NoError(t, err)
				assert.Empty(t, fs, "%s: consistent", fault)
			}
		})
	}
}

// runRecovered runs fn and turns a panic into an error.
func runRecovered(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return fn()
}
