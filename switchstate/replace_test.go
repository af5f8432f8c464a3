package switchstate

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// neighbourBook stands in for the machine package: the LLDP neighbour
// entries of the machines, rewritten by PortsRenamed.
type neighbourBook struct {
	ports map[string][]string // machine -> "switch/port"
	calls int
}

func (b *neighbourBook) hook(tx backends.Tx, renames []PortRename) error {
	b.calls++
	for _, r := range renames {
		list := b.ports[r.MachineID]
		for i, p := range list {
			if p == r.OldSwitch+"/"+r.OldPort {
				list[i] = r.NewSwitch + "/" + r.NewPort.Name
			}
		}
	}
	return nil
}

// Scenario 7, on every store.
func TestReplace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		book := &neighbourBook{}
		f := newFixture(t, s, &Options{PortsRenamed: func(tx backends.Tx, r []PortRename) error {
			return book.hook(tx, r)
		}})
		f.register(switchReq("leaf01", "Cumulus", "rack01", namedPorts("old01", "swp1", "swp2", "swp3")))
		f.register(switchReq("leaf02", "Cumulus", "rack01", namedPorts("leaf02", "swp1", "swp2", "swp3")))
		_, _, err := f.connect("m1", link{"leaf01", "old01-swp1"}, on("leaf02", "swp1"))
		require.NoError(t, err)
		_, _, err = f.connect("m2", link{"leaf01", "old01-swp2"}, on("leaf02", "swp2"))
		require.NoError(t, err)
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return SetMachineVRF(tx, "m1", "vrf20") }))
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return SetMachineVRF(tx, "m2", "vrf20") }))
		book.ports = map[string][]string{"m1": {"leaf01/swp1", "leaf02/swp1"}, "m2": {"leaf01/swp2", "leaf02/swp2"}}
		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{
			PortStates:    map[string]PortState{"swp1": PortUp},
			BGPPortStates: map[string]BGPPortState{"swp1": {BgpState: BGPEstablished}},
		})
		require.NoError(t, err)
		_, err = f.svc.Update(ctx, UpdateRequest{ID: "leaf01", Mode: ModeReplace})
		require.NoError(t, err)

		// Ethernet4 missing: an error listing it, nothing changed.
		before := dumpStore(t, s, bucketSwitch, bgpBucket("leaf01"), historyBucket("leaf01"), machineBucket("m1"))
		_, _, err = f.svc.Register(ctx, switchReq("leaf01", "SONiC", "rack01", sonicPorts("new01", 0, 8)))
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorContains(t, err, "Ethernet4")
		assert.ErrorContains(t, err, "breakout")
		assert.Equal(t, before, dumpStore(t, s, bucketSwitch, bgpBucket("leaf01"), historyBucket("leaf01"), machineBucket("m1")))
		assert.Zero(t, book.calls)

		// Another rack: refused.
		_, _, err = f.svc.Register(ctx, switchReq("leaf01", "SONiC", "rack02", sonicPorts("new01", 0, 4, 8)))
		assert.ErrorIs(t, err, ErrInvalidArgument)

		sw, created, err := f.svc.Register(ctx, switchReq("leaf01", "SONiC", "rack01", sonicPorts("new01", 0, 4, 8)))
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, ModeOperational, sw.Mode)
		assert.Equal(t, VendorSONiC, sw.OS.Vendor)
		assert.Equal(t, map[string]string{"Ethernet0": "m1", "Ethernet4": "m2"}, connectionsOf(sw))
		for _, c := range sw.Connections {
			assert.Equal(t, "new01-"+c.Nic.Name, c.Nic.Identifier, "the new switch's port")
			assert.Equal(t, PortVRF("vrf20"), c.Nic.Vrf)
		}
		assert.Equal(t, PortVRF(""), nicOf(t, sw, "Ethernet8").Vrf)
		for _, n := range sw.Nics {
			assert.Equal(t, PortUnknown, n.Actual, "port states start empty")
			assert.Nil(t, n.BGPPortState, "BGP states start empty")
		}
		h, err := f.svc.History(ctx, "leaf01", "swp1")
		require.NoError(t, err)
		assert.Empty(t, h)
		assert.Equal(t, map[string][]string{"m1": {"leaf01/Ethernet0", "leaf02/swp1"}, "m2": {"leaf01/Ethernet4", "leaf02/swp2"}}, book.ports)
		assert.Len(t, dumpStore(t, s, machineBucket("m1")), 2)
	})
}

func TestReplaceNeedsExactlyOneTwin(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
	_, err := f.svc.Update(ctx, UpdateRequest{ID: "leaf01", Mode: ModeReplace})
	require.NoError(t, err)
	f.register(switchReq("leaf02", "SONiC", "rack01", sonicPorts("leaf02", 0)))
	_, _, err = f.svc.Register(ctx, switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
	assert.ErrorIs(t, err, ErrConflict, "the only other switch has no connections")
	assert.ErrorContains(t, err, "found 0")
}

// Scenario 8, on every store.
func TestMigrate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		book := &neighbourBook{}
		failing := false
		f := newFixture(t, s, &Options{PortsRenamed: func(tx backends.Tx, r []PortRename) error {
			if failing {
				return errors.New("machine store unavailable")
			}
			return book.hook(tx, r)
		}})
		f.register(switchReq("leaf01", "Cumulus", "rack01", namedPorts("leaf01", "swp1", "swp2s0", "swp2s1")))
		f.register(switchReq("leaf02", "Cumulus", "rack01", namedPorts("leaf02", "swp1", "swp2s0", "swp2s1")))
		f.register(switchReq("sonic01", "SONiC", "rack01", sonicPorts("sonic01", 0, 4, 5, 8)))
		f.register(switchReq("sonic02", "SONiC", "rack02", sonicPorts("sonic02", 0, 4, 5)))
		f.register(switchReq("sonic03", "SONiC", "rack01", sonicPorts("sonic03", 0, 4)))
		_, _, err := f.connect("m1", on("leaf01", "swp1"), on("leaf02", "swp1"))
		require.NoError(t, err)
		_, _, err = f.connect("m2", on("leaf01", "swp2s1"), on("leaf02", "swp2s1"))
		require.NoError(t, err)
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return SetMachineVRF(tx, "m2", "vrf30") }))
		book.ports = map[string][]string{"m1": {"leaf01/swp1", "leaf02/swp1"}, "m2": {"leaf01/swp2s1", "leaf02/swp2s1"}}

		snapshot := func() map[string]string {
			return dumpStore(t, s, bucketSwitch, machineBucket("m1"), machineBucket("m2"))
		}
		before := snapshot()
		_, err = f.svc.Migrate(ctx, "leaf01", "leaf02")
		assert.ErrorIs(t, err, ErrConflict, "onto a switch with connections")
		_, err = f.svc.Migrate(ctx, "leaf01", "sonic02")
		assert.ErrorIs(t, err, ErrInvalidArgument, "onto another rack")
		assert.ErrorContains(t, err, "rack02")
		_, err = f.svc.Migrate(ctx, "leaf01", "sonic03")
		assert.ErrorIs(t, err, ErrInvalidArgument, "a port missing")
		assert.ErrorContains(t, err, "Ethernet5")
		_, err = f.svc.Migrate(ctx, "leaf01", "nope")
		assert.ErrorIs(t, err, ErrNotFound)
		_, err = f.svc.Migrate(ctx, "", "sonic01")
		assert.ErrorIs(t, err, ErrInvalidArgument)
		failing = true
		_, err = f.svc.Migrate(ctx, "leaf01", "sonic01")
		assert.ErrorContains(t, err, "machine store unavailable")
		assert.Equal(t, before, snapshot(), "neither switch changed")
		failing = false

		sw, err := f.svc.Migrate(ctx, "leaf01", "sonic01")
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"Ethernet0": "m1", "Ethernet5": "m2"}, connectionsOf(sw))
		assert.Equal(t, PortVRF("vrf30"), nicOf(t, sw, "Ethernet5").Vrf)
		assert.Empty(t, f.get("leaf01").Connections)
		assert.Equal(t, map[string][]string{"m1": {"sonic01/Ethernet0", "leaf02/swp1"}, "m2": {"sonic01/Ethernet5", "leaf02/swp2s1"}}, book.ports)

		// The new pair wires as a mirror across vendors.
		_, _, err = f.connect("m1", on("sonic01", "Ethernet0"), on("leaf02", "swp1"))
		require.NoError(t, err)
	})
}
