package switchstate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

var wiringBuckets = []string{bucketSwitch, partitionBucket("fra-equ01"), machineBucket("m1"), machineBucket("m2")}

// Scenario 4, on every store.
func TestConnectMachine(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixture(t, s, nil)
		f.pair()

		before := dumpStore(t, s, wiringBuckets...)
		_, _, err := f.connect("m1", on("leaf01", "Ethernet0"))
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorContains(t, err, "machine m1 is not connected to exactly two switches, found connections to 1 switches")
		assert.Equal(t, before, dumpStore(t, s, wiringBuckets...), "nothing written")

		rack, partition, err := f.connect("m1", on("leaf01", "Ethernet12"), on("leaf02", "Ethernet12"))
		require.NoError(t, err)
		assert.Equal(t, "rack01", rack)
		assert.Equal(t, "fra-equ01", partition)
		assert.Equal(t, map[string]string{"Ethernet12": "m1"}, connectionsOf(f.get("leaf01")))

		// LLDP now shows Ethernet16: the connections are replaced.
		_, _, err = f.connect("m1", on("leaf01", "Ethernet16"), on("leaf02", "Ethernet16"))
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"Ethernet16": "m1"}, connectionsOf(f.get("leaf01")))
		assert.Equal(t, map[string]string{"Ethernet16": "m1"}, connectionsOf(f.get("leaf02")))

		// Stored on leaf02, but no neighbour there any more.
		f.register(switchReq("leaf03", "SONiC", "rack01", sonicPorts("leaf03", 16)))
		before = dumpStore(t, s, wiringBuckets...)
		_, _, err = f.connect("m1", on("leaf01", "Ethernet16"), on("leaf03", "Ethernet16"))
		assert.ErrorIs(t, err, ErrConflict)
		assert.ErrorContains(t, err, "exists in the store but not physically")
		assert.ErrorContains(t, err, `"leaf02"`)
		assert.Equal(t, before, dumpStore(t, s, wiringBuckets...))
	})
}

func TestConnectMachineCountsNeighboursOfTheSwitchOnly(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.pair()
	// The identifier of leaf02's port, seen through a neighbour that claims
	// to be leaf01, does not count for leaf02.
	_, _, err := f.connect("m1", on("leaf01", "Ethernet0"), link{"leaf01", "leaf02-Ethernet0"})
	assert.ErrorContains(t, err, "found connections to 1 switches")

	// A switch without name counts every neighbour.
	req := switchReq("leaf02", "SONiC", "rack01", sonicPorts("leaf02", 0, 4, 8, 12, 16))
	req.Name = ptr("")
	f.register(req)
	_, _, err = f.connect("m1", on("leaf01", "Ethernet0"), link{"somebody", "leaf02-Ethernet0"})
	require.NoError(t, err)
}

// Scenario 5.
func TestConnectMachineRackAndMirrorChecks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixture(t, s, nil)
		f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4)))
		f.register(switchReq("leaf02", "SONiC", "rack02", sonicPorts("leaf02", 0, 4)))
		_, _, err := f.connect("m1", on("leaf01", "Ethernet0"), on("leaf02", "Ethernet0"))
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorContains(t, err, `"rack01"`)
		assert.ErrorContains(t, err, `"rack02"`)

		f.register(switchReq("leaf02", "SONiC", "rack01", sonicPorts("leaf02", 0, 4)))
		_, _, err = f.connect("m1", on("leaf01", "Ethernet0"), on("leaf02", "Ethernet0"))
		require.NoError(t, err)

		// m2 sees leaf01's Ethernet0, which m1 is on.
		before := dumpStore(t, s, wiringBuckets...)
		_, _, err = f.connect("m2", on("leaf01", "Ethernet0"), on("leaf02", "Ethernet4"))
		assert.ErrorIs(t, err, ErrInvalidArgument, "not mirrored")
		_, _, err = f.connect("m2", on("leaf01", "Ethernet0"), on("leaf02", "Ethernet0"))
		assert.ErrorIs(t, err, ErrConflict)
		assert.ErrorContains(t, err, `port "Ethernet0" is connected to machine "m1" and machine "m2"`)
		assert.Equal(t, before, dumpStore(t, s, wiringBuckets...))

		// Unequal numbers of ports.
		_, _, err = f.connect("m2", on("leaf01", "Ethernet4"), on("leaf02", "Ethernet4"), on("leaf02", "Ethernet0"))
		assert.ErrorIs(t, err, ErrInvalidArgument)
	})
}

func TestConnectMachineMirrorAcrossVendors(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4)))
	f.register(switchReq("leaf02", "Cumulus", "rack01", namedPorts("leaf02", "swp1", "swp2")))
	_, _, err := f.connect("m1", on("leaf01", "Ethernet4"), on("leaf02", "swp2"))
	require.NoError(t, err)
	_, _, err = f.connect("m2", on("leaf01", "Ethernet0"), on("leaf02", "swp2"))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.ErrorContains(t, err, "Ethernet0")
}

// Scenario 19, plus DisconnectMachine, on every store.
func TestSetMachineVRFAndDisconnect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixture(t, s, nil)
		f.pair()
		_, _, err := f.connect("m1", on("leaf01", "Ethernet4"), on("leaf02", "Ethernet4"))
		require.NoError(t, err)
		_, _, err = f.connect("m2", on("leaf01", "Ethernet8"), on("leaf02", "Ethernet8"))
		require.NoError(t, err)

		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return SetMachineVRF(tx, "m1", "vrf20") }))
		for _, id := range []string{"leaf01", "leaf02"} {
			sw := f.get(id)
			assert.Equal(t, PortVRF("vrf20"), nicOf(t, sw, "Ethernet4").Vrf)
			assert.Equal(t, PortVRF(""), nicOf(t, sw, "Ethernet8").Vrf, "other machines untouched")
			for _, c := range sw.Connections {
				if c.MachineID == "m1" {
					assert.Equal(t, PortVRF("vrf20"), c.Nic.Vrf, "a connection shows its port")
				}
			}
		}
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return SetMachineVRF(tx, "m1", "") }))
		assert.Equal(t, PortVRF(""), nicOf(t, f.get("leaf02"), "Ethernet4").Vrf)

		err = s.Update(ctx, func(tx backends.Tx) error { return SetMachineVRF(tx, "m1", "blue") })
		assert.ErrorIs(t, err, ErrInvalidArgument)
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return SetMachineVRF(tx, "unknown", "vrf1") }))

		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return DisconnectMachine(tx, "m1") }))
		assert.Equal(t, map[string]string{"Ethernet8": "m2"}, connectionsOf(f.get("leaf01")))
		assert.Equal(t, map[string]string{"Ethernet8": "m2"}, connectionsOf(f.get("leaf02")))
		assert.Empty(t, dumpStore(t, s, machineBucket("m1")), "machine index cleared")
		assert.Len(t, dumpStore(t, s, machineBucket("m2")), 2)
	})
}

// Scenario 6.
func TestTranslatePortNames(t *testing.T) {
	got, err := TranslatePortNames([]string{"swp1s0", "swp2s0", "swp2s1", "swp2s2"}, VendorCumulus, VendorSONiC)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"swp1s0": "Ethernet0", "swp2s0": "Ethernet4", "swp2s1": "Ethernet5", "swp2s2": "Ethernet6"}, got)

	got, err = TranslatePortNames([]string{"Ethernet0", "Ethernet4", "Ethernet8", "Ethernet9"}, VendorSONiC, VendorCumulus)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"Ethernet0": "swp1", "Ethernet4": "swp2", "Ethernet8": "swp3s0", "Ethernet9": "swp3s1"}, got)

	got, err = TranslatePortNames([]string{"swp1", "swp3s2"}, VendorCumulus, VendorCumulus)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"swp1": "swp1", "swp3s2": "swp3s2"}, got)

	for _, bad := range []string{"Ethernet0", "swp1s", "swp0", "swp1-2", "swp1s4", "swp", "swpX", "", "eth0"} {
		_, err := TranslatePortNames([]string{"swp1", bad}, VendorCumulus, VendorSONiC)
		assert.ErrorIs(t, err, ErrInvalidArgument, bad)
		_, err = PortLine(bad, VendorCumulus)
		assert.ErrorIs(t, err, ErrInvalidArgument, bad)
	}
	for _, bad := range []string{"swp1", "Ethernet", "Ethernet-1", "Ethernet1/1", "Ethernet1x"} {
		_, err := PortLine(bad, VendorSONiC)
		assert.ErrorIs(t, err, ErrInvalidArgument, bad)
	}
	_, err = TranslatePortNames([]string{"swp1", "swp1s0"}, VendorCumulus, VendorSONiC)
	assert.ErrorIs(t, err, ErrInvalidArgument, "two names of one line")
	_, err = TranslatePortNames([]string{"swp1s4", "swp0"}, VendorCumulus, VendorSONiC)
	assert.ErrorContains(t, err, "swp1s4")
	assert.ErrorContains(t, err, "swp0")

	for name, line := range map[string]int{"swp1": 0, "swp1s3": 3, "swp2": 4, "swp32s1": 125} {
		l, err := PortLine(name, VendorCumulus)
		require.NoError(t, err)
		assert.Equal(t, line, l, name)
	}
}

func TestComparePortNames(t *testing.T) {
	names := []string{"Ethernet10", "Ethernet2", "Ethernet1", "swp10s1", "swp2s0", "swp10", "Ethernet002", "a"}
	sortFunc := func(a, b string) int { return ComparePortNames(a, b) }
	sorted := append([]string(nil), names...)
	slicesSort(sorted, sortFunc)
	assert.Equal(t, []string{"Ethernet1", "Ethernet2", "Ethernet002", "Ethernet10", "a", "swp2s0", "swp10", "swp10s1"}, sorted)
	assert.Equal(t, 0, ComparePortNames("x", "x"))
}
