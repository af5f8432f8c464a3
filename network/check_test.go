package network_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/network"
)

func runCheck(t *testing.T, s backends.Store, repair bool) []string {
	t.Helper()
	fs, err := network.Check(ctx, s, check.Options{})
	require.NoError(t, err)
	var out []string
	for _, f := range fs {
		out = append(out, f.Invariant)
	}
	if repair {
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
			_, err := check.RepairAll(tx, fs)
			return err
		}))
	}
	return out
}

func raw(t *testing.T, s backends.Store, fn func(tx backends.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(ctx, fn))
}

func ip4key(a string) []byte {
	b := netip.MustParseAddr(a).As4()
	return append([]byte{4}, b[:]...)
}

// TestCheckFindsEachBrokenInvariant breaks one invariant at a time with raw
// store writes; Check reports it and Repair fixes the repairable ones.
func TestCheckFindsEachBrokenInvariant(t *testing.T) {
	type broken struct {
		name       string
		invariant  string
		repairable bool
		breakIt    func(t *testing.T, s backends.Store, child *network.Network)
	}
	childPrefix := func(n *network.Network) netip.Prefix { return n.Prefixes[0] }
	cases := []broken{
		{"orphaned address", "network.orphaned-address", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error {
				return ipam.AcquireSpecificIP(tx, childPrefix(child), netip.MustParseAddr("10.0.0.9"))
			})
		}},
		{"address both free and held", "network.free-held", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error {
				return ipam.ReleaseIP(tx, childPrefix(child), netip.MustParseAddr("10.0.0.1"))
			})
		}},
		{"ip outside its network", "network.ip-prefix", false, func(t *testing.T, s backends.Store, child *network.Network) {
			moveIPRecord(t, s, "10.0.0.1", "192.0.2.1")
		}},
		{"ip of a missing network", "network.ip-network", false, func(t *testing.T, s backends.Store, child *network.Network) {
			svc := network.New(s, nil)
			other, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
			require.NoError(t, err)
			ip, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: other.ID, ProjectID: "p"})
			require.NoError(t, err)
			record := storedIP(t, s, ip.IPAddress.String())
			_, err = svc.FreeIP(ctx, ip.IPAddress)
			require.NoError(t, err)
			_, err = svc.Free(ctx, other.ID)
			require.NoError(t, err)
			raw(t, s, func(tx backends.Tx) error { return tx.Put("network/ips", ip4key("192.0.2.2"), record) })
		}},
		{"missing machine index entry", "network.machine-index", true, func(t *testing.T, s backends.Store, child *network.Network) {
			ip, err := network.New(s, nil).AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", MachineID: "m1"})
			require.NoError(t, err)
			raw(t, s, func(tx backends.Tx) error {
				return tx.Delete("network/machine-ips", append([]byte("m1\x00"), ip4key(ip.IPAddress.String())...))
			})
		}},
		{"stale machine index entry", "network.machine-index", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error {
				return tx.Put("network/machine-ips", append([]byte("m2\x00"), ip4key("10.0.0.1")...), nil)
			})
		}},
		{"vrf count", "network.vrf-count", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error {
				return tx.Put("network/vrf", binary.BigEndian.AppendUint32(nil, child.VRF), binary.BigEndian.AppendUint32(nil, 5))
			})
		}},
		{"orphaned vrf in the pool", "network.vrf-pool", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error { return ipam.AcquireSpecificInt(tx, "network/vrf", 4242) })
		}},
		{"missing children index entry", "network.children-index", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error {
				return tx.Delete("network/children", append(append([]byte(child.ParentNetworkID), 0), child.ID...))
			})
		}},
		{"stale super index", "network.partition-index", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error { return tx.Put("network/super", []byte("nowhere"), []byte("gone")) })
		}},
		{"undecodable network", "network.record", false, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error { return tx.Put("network/networks", []byte("zzz"), []byte("{")) })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.super("fra")
			child, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
			require.NoError(t, err)
			_, err = f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
			require.NoError(t, err)
			require.Empty(t, runCheck(t, f.store, false), "consistent before")
			c.breakIt(t, f.store, child)
			got := runCheck(t, f.store, true)
			assert.Contains(t, got, c.invariant)
			after := runCheck(t, f.store, false)
			if c.repairable {
				assert.Empty(t, after, "repaired")
			} else {
				assert.Contains(t, after, c.invariant, "not repairable")
			}
		})
	}
}

// storedIP returns the stored bytes of the IP record of addr.
func storedIP(t *testing.T, s backends.Store, addr string) []byte {
	t.Helper()
	var record []byte
	raw(t, s, func(tx backends.Tx) error {
		v, err := tx.Get("network/ips", ip4key(addr))
		record = bytes.Clone(v)
		return err
	})
	require.NotEmpty(t, record, "no record of %s", addr)
	return record
}

// moveIPRecord moves the stored IP record of from to the key of to,
// unchanged, as a torn or misdirected write would.
func moveIPRecord(t *testing.T, s backends.Store, from, to string) {
	t.Helper()
	record := storedIP(t, s, from)
	raw(t, s, func(tx backends.Tx) error {
		if err := tx.Delete("network/ips", ip4key(from)); err != nil {
			return err
		}
		return tx.Put("network/ips", ip4key(to), record)
	})
}

// TestAllocationNeverOverwrites: when ipam gives out an address that holds
// a record all the same, the allocation fails with the corrupt class and
// writes nothing, on every store (redisstore checks at the commit).
func TestAllocationNeverOverwrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixtureOn(t, s)
		f.super("fra")
		child, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
		require.NoError(t, err)
		ip, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", Name: "kept"})
		require.NoError(t, err)
		record := storedIP(t, s, ip.IPAddress.String())
		_, err = f.svc.FreeIP(ctx, ip.IPAddress)
		require.NoError(t, err)
		raw(t, s, func(tx backends.Tx) error { return tx.Put("network/ips", ip4key(ip.IPAddress.String()), record) })

		before := backendtest.Dump(t, s)
		for _, req := range []network.AllocateIPRequest{
			{NetworkID: child.ID, ProjectID: "p"},
			{NetworkID: child.ID, ProjectID: "p", Address: ip.IPAddress},
		} {
			_, err = f.svc.AllocateIP(ctx, req)
			require.ErrorIs(t, err, errdefs.ErrCorrupt, "address %v", req.Address)
			assert.Contains(t, err.Error(), "network/ips")
			backendtest.Unchanged(t, before, s)
		}
		got, err := f.svc.GetIP(ctx, ip.IPAddress)
		require.NoError(t, err)
		assert.Equal(t, "kept", got.Name, "the record is intact")

		// Without the stray record the store is consistent again.
		raw(t, s, func(tx backends.Tx) error { return tx.Delete("network/ips", ip4key(ip.IPAddress.String())) })
	})
}
