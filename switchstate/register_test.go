package switchstate

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/errdefs"
)

var allBuckets = []string{bucketSwitch, bucketStatus, bgpBucket("leaf01"), historyBucket("leaf01"), partitionBucket("fra-equ01")}

// Scenario 1.
func TestRegisterCreatesThenChangesNothing(t *testing.T) {
	f := newFixture(t, nil, nil)
	req := switchReq("leaf01", "SONiC", "rack01", []RegisterNic{
		{Name: "Ethernet0", Identifier: "Eth1/1", MAC: "aa:00:00:00:00:01"},
		{Name: "Ethernet4", MAC: "aa:00:00:00:00:02"},
	})
	sw, created, err := f.svc.Register(ctx, req)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, ModeOperational, sw.Mode)
	assert.Empty(t, sw.Connections)
	require.Len(t, sw.Nics, 2)
	assert.Equal(t, "Eth1/1", sw.Nics[0].EffectiveIdentifier())
	assert.Equal(t, "aa:00:00:00:00:02", sw.Nics[1].EffectiveIdentifier())
	assert.Equal(t, PortUnknown, sw.Nics[0].Actual)
	assert.Empty(t, sw.Nics[0].Desired)

	before := dumpStore(t, f.store, allBuckets...)
	again, created, err := f.svc.Register(ctx, req)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, sw, again)
	assert.Equal(t, before, dumpStore(t, f.store, allBuckets...))
}

// Scenario 2.
func TestRegisterValidation(t *testing.T) {
	f := newFixture(t, nil, nil)

	dup := switchReq("leaf01", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet0", Identifier: "Eth1/1"}, {Name: "Ethernet4", Identifier: "Eth1/1"}})
	_, _, err := f.svc.Register(ctx, dup)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.ErrorContains(t, err, `"Eth1/1"`)

	dupName := switchReq("leaf01", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet0", Identifier: "a"}, {Name: "Ethernet0", Identifier: "b"}})
	_, _, err = f.svc.Register(ctx, dupName)
	assert.ErrorIs(t, err, ErrInvalidArgument)

	noOS := switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0))
	noOS.OS = nil
	_, _, err = f.svc.Register(ctx, noOS)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.ErrorContains(t, err, "os is required")

	badVendor := switchReq("leaf01", "Arista", "rack01", sonicPorts("leaf01", 0))
	_, _, err = f.svc.Register(ctx, badVendor)
	assert.ErrorIs(t, err, ErrInvalidArgument)

	noID := switchReq("", "SONiC", "rack01", nil)
	_, _, err = f.svc.Register(ctx, noID)
	assert.ErrorIs(t, err, ErrInvalidArgument)

	_, err = f.svc.Get(ctx, "leaf01")
	assert.ErrorIs(t, err, ErrNotFound, "failed registrations store nothing")

	sw, _, err := f.svc.Register(ctx, switchReq("leaf01", "sonic", "rack01", sonicPorts("leaf01", 0)))
	require.NoError(t, err)
	assert.Equal(t, VendorSONiC, sw.OS.Vendor)
}

// onePartition is a Catalog that knows one partition.
type onePartition string

func (p onePartition) Partition(_ context.Context, id string) error {
	if id != string(p) {
		return errdefs.Errorf(errdefs.ErrNotFound, "no partition %q", id)
	}
	return nil
}

func TestRegisterPartitionHook(t *testing.T) {
	f := newFixture(t, nil, &Options{Catalog: onePartition("fra-equ01")})
	req := switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0))
	f.register(req)
	req.ID, req.PartitionID = "leaf09", "nowhere"
	_, _, err := f.svc.Register(ctx, req)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorContains(t, err, "nowhere")
}

// Scenario 3.
func TestRegisterMergesPortsByIdentifier(t *testing.T) {
	f := newFixture(t, nil, nil)
	first := switchReq("leaf01", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet0", Identifier: "X", Vrf: "vrf1"}, {Name: "Ethernet8", Identifier: "Z"}})
	f.register(first)

	renamed := switchReq("leaf01", "SONiC", "rack01", []RegisterNic{
		{Name: "Ethernet1", Identifier: "X", Vrf: "vrf2", MAC: "aa:00:00:00:00:01"},
		{Name: "Ethernet8", Identifier: "Z"},
		{Name: "Ethernet12", Identifier: "N", Vrf: "vrf3"},
	})
	sw := f.register(renamed)
	require.Len(t, sw.Nics, 3)
	assert.Equal(t, Nic{Name: "Ethernet1", Identifier: "X", MAC: "aa:00:00:00:00:01", Vrf: "vrf1", Actual: PortUnknown}, sw.Nics[0], "stored vrf kept, new name and mac taken")
	assert.Equal(t, PortVRF("vrf3"), nicOf(t, sw, "Ethernet12").Vrf, "a new port is added as sent")

	// A dropped unconnected port goes.
	f.register(switchReq("leaf01", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet1", Identifier: "X"}, {Name: "Ethernet8", Identifier: "Z"}}))

	// Connected ports cannot be renamed or dropped.
	f.register(switchReq("leaf02", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet1", Identifier: "Y"}, {Name: "Ethernet8", Identifier: "W"}}))
	_, _, err := f.connect("m1", link{"leaf01", "X"}, link{"leaf02", "Y"})
	require.NoError(t, err)

	before := dumpStore(t, f.store, allBuckets...)
	_, _, err = f.svc.Register(ctx, switchReq("leaf01", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet2", Identifier: "X"}, {Name: "Ethernet8", Identifier: "Z"}}))
	assert.ErrorIs(t, err, ErrConflict)
	assert.ErrorContains(t, err, `"Ethernet1"`)
	assert.ErrorContains(t, err, `"m1"`)
	_, _, err = f.svc.Register(ctx, switchReq("leaf01", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet8", Identifier: "Z"}}))
	assert.ErrorIs(t, err, ErrConflict)
	assert.ErrorContains(t, err, `"Ethernet1"`)
	assert.ErrorContains(t, err, `"m1"`)
	// Moving a connected switch is refused.
	_, _, err = f.svc.Register(ctx, switchReq("leaf01", "SONiC", "rack02", []RegisterNic{{Name: "Ethernet1", Identifier: "X"}, {Name: "Ethernet8", Identifier: "Z"}}))
	assert.ErrorIs(t, err, ErrConflict)
	assert.Equal(t, before, dumpStore(t, f.store, allBuckets...))
}

func TestRegisterKeepsStatesAndDescriptionAndCarriesBGPOverRename(t *testing.T) {
	f := newFixture(t, nil, nil)
	req := switchReq("leaf01", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet0", Identifier: "X"}, {Name: "Ethernet4", Identifier: "Y"}})
	req.Description = ptr("first")
	req.ConsoleCommand = "ssh console"
	f.register(req)
	_, err := f.svc.Notify(ctx, "leaf01", NotifyRequest{
		PortStates:    map[string]PortState{"Ethernet0": PortUp},
		BGPPortStates: map[string]BGPPortState{"Ethernet0": {BgpState: BGPEstablished, BgpTimerUpEstablished: 1}, "Ethernet4": {BgpState: BGPIdle}},
	})
	require.NoError(t, err)

	again := switchReq("leaf01", "SONiC", "rack01", []RegisterNic{{Name: "Ethernet2", Identifier: "X"}})
	again.Name, again.Description = nil, nil
	again.ConsoleCommand = "ignored"
	sw := f.register(again)
	assert.Equal(t, "leaf01", sw.Name, "name only when given")
	assert.Equal(t, "first", sw.Description, "description only when given")
	assert.Equal(t, "ssh console", sw.ConsoleCommand, "console command kept")
	require.Len(t, sw.Nics, 1)
	assert.Equal(t, PortUp, sw.Nics[0].Actual)
	require.NotNil(t, sw.Nics[0].BGPPortState)
	assert.Equal(t, BGPEstablished, sw.Nics[0].BGPPortState.BgpState)

	h, err := f.svc.History(ctx, "leaf01", "Ethernet2")
	require.NoError(t, err)
	assert.Len(t, h, 1, "history follows the renamed port")
	h, err = f.svc.History(ctx, "leaf01", "Ethernet4")
	require.NoError(t, err)
	assert.Empty(t, h, "a dropped port's history goes")
	assert.Empty(t, dumpStore(t, f.store, bgpBucket("leaf01"))[bgpBucket("leaf01")+"|Ethernet4"])
	assert.Len(t, dumpStore(t, f.store, bgpBucket("leaf01")), 1)
}

func TestUpdate(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))

	sw, err := f.svc.Update(ctx, UpdateRequest{ID: "leaf01", Description: ptr("spare"), ConsoleCommand: "telnet x", Mode: ModeReplace})
	require.NoError(t, err)
	assert.Equal(t, "spare", sw.Description)
	assert.Equal(t, "telnet x", sw.ConsoleCommand)
	assert.Equal(t, ModeReplace, sw.Mode)

	sw, err = f.svc.Update(ctx, UpdateRequest{ID: "leaf01", Mode: ModeOperational})
	require.NoError(t, err)
	assert.Equal(t, "spare", sw.Description, "description only when given")
	assert.Empty(t, sw.ConsoleCommand, "console command always; empty clears")

	_, err = f.svc.Update(ctx, UpdateRequest{ID: "leaf01", Mode: "maintenance"})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.ErrorContains(t, err, "maintenance")
	assert.Equal(t, ModeOperational, f.get("leaf01").Mode)

	_, err = f.svc.Update(ctx, UpdateRequest{ID: "nope", Mode: ModeOperational})
	assert.ErrorIs(t, err, ErrNotFound)
}

// Scenario 18.
func TestDelete(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.pair()
	_, _, err := f.connect("m1", on("leaf01", "Ethernet0"), on("leaf02", "Ethernet0"))
	require.NoError(t, err)
	_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{"Ethernet0": {BgpState: BGPEstablished}}})
	require.NoError(t, err)

	_, err = f.svc.Delete(ctx, "leaf01", false)
	assert.ErrorIs(t, err, ErrConflict)
	f.get("leaf01")

	old, err := f.svc.Delete(ctx, "leaf01", true)
	require.NoError(t, err)
	assert.Equal(t, "leaf01", old.ID)
	_, err = f.svc.Get(ctx, "leaf01")
	assert.ErrorIs(t, err, ErrNotFound)
	left := dumpStore(t, f.store, bucketSwitch, bucketStatus, bgpBucket("leaf01"), historyBucket("leaf01"), partitionBucket("fra-equ01"), machineBucket("m1"))
	for k := range left {
		assert.NotContains(t, k, "leaf01", "nothing of leaf01 is left")
	}
	assert.Contains(t, left, bucketSwitch+"|leaf02")

	_, err = f.svc.Delete(ctx, "leaf01", true)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestGetAndList(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.register(switchReq("leaf02", "SONiC", "rack01", sonicPorts("leaf02", 0)))
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
	f.register(switchReq("leaf03", "Cumulus", "rack02", namedPorts("leaf03", "swp1")))
	other := switchReq("leaf09", "Cumulus", "rack01", namedPorts("leaf09", "swp1"))
	other.PartitionID = "ber-1"
	f.register(other)

	ids := func(sws []*Switch, err error) []string {
		require.NoError(t, err)
		var out []string
		for _, s := range sws {
			out = append(out, s.ID)
		}
		return out
	}
	assert.Equal(t, []string{"leaf09", "leaf01", "leaf02", "leaf03"}, ids(f.svc.List(ctx, ListFilter{})))
	assert.Equal(t, []string{"leaf01", "leaf02", "leaf03"}, ids(f.svc.List(ctx, ListFilter{PartitionID: "fra-equ01"})))
	assert.Equal(t, []string{"leaf01", "leaf02"}, ids(f.svc.List(ctx, ListFilter{PartitionID: "fra-equ01", RackID: "rack01"})))
	assert.Equal(t, []string{"leaf09", "leaf01", "leaf02"}, ids(f.svc.List(ctx, ListFilter{RackID: "rack01"})))
	assert.Equal(t, []string{"leaf09", "leaf03"}, ids(f.svc.List(ctx, ListFilter{OSVendor: "cumulus"})))
	assert.Empty(t, ids(f.svc.List(ctx, ListFilter{PartitionID: "nowhere"})))

	_, err := f.svc.Get(ctx, "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorContains(t, err, "nope")

	// Moving an unconnected switch updates the partition index.
	moved := switchReq("leaf03", "Cumulus", "rack01", namedPorts("leaf03", "swp1"))
	f.register(moved)
	assert.Equal(t, []string{"leaf01", "leaf02", "leaf03"}, ids(f.svc.List(ctx, ListFilter{PartitionID: "fra-equ01", RackID: "rack01"})))
	assert.Empty(t, ids(f.svc.List(ctx, ListFilter{PartitionID: "fra-equ01", RackID: "rack02"})))
}

func TestCancelledContextWritesNothing(t *testing.T) {
	f := newFixture(t, nil, nil)
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err := f.svc.Register(c, switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled))
	assert.Empty(t, dumpStore(t, f.store, allBuckets...))
}
