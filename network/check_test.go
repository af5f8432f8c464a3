package network_test

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
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
			for _, f := range fs {
				if f.Repair != nil {
					if err := f.Repair(tx); err != nil {
						return err
					}
				}
			}
			return nil
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
		{"missing ip index entry", "network.ip-index", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error {
				return tx.Delete("network/network-ips", append(append([]byte(child.ID), 0), ip4key("10.0.0.1")...))
			})
		}},
		{"stale ip index entry", "network.ip-index", true, func(t *testing.T, s backends.Store, child *network.Network) {
			raw(t, s, func(tx backends.Tx) error {
				return tx.Put("network/network-ips", append(append([]byte(child.ID), 0), ip4key("10.0.0.77")...), nil)
			})
		}},
		{"ip outside its network", "network.ip-prefix", false, func(t *testing.T, s backends.Store, child *network.Network) {
			ip := network.IP{IPAddress: netip.MustParseAddr("192.0.2.1"), NetworkID: child.ID, ProjectID: "p", Type: network.IPTypeEphemeral, Tags: []string{}}
			b, _ := json.Marshal(ip)
			raw(t, s, func(tx backends.Tx) error { return tx.Put("network/ips", ip4key("192.0.2.1"), b) })
		}},
		{"ip of a missing network", "network.ip-network", false, func(t *testing.T, s backends.Store, child *network.Network) {
			ip := network.IP{IPAddress: netip.MustParseAddr("192.0.2.2"), NetworkID: "gone", ProjectID: "p", Type: network.IPTypeEphemeral, Tags: []string{}}
			b, _ := json.Marshal(ip)
			raw(t, s, func(tx backends.Tx) error { return tx.Put("network/ips", ip4key("192.0.2.2"), b) })
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
