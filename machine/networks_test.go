package machine_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/machine"
)

func TestNetworkTypeOf(t *testing.T) {
	valid := map[[4]bool]machine.NetworkType{
		{true, true, false, false}:   machine.PrivatePrimaryUnshared,
		{true, true, true, false}:    machine.PrivatePrimaryShared,
		{true, false, true, false}:   machine.PrivateSecondaryShared,
		{false, false, false, false}: machine.External,
		{false, false, false, true}:  machine.Underlay,
	}
	for bits := range 16 {
		f := [4]bool{bits&8 != 0, bits&4 != 0, bits&2 != 0, bits&1 != 0}
		got, err := machine.NetworkTypeOf(f[0], f[1], f[2], f[3])
		want, ok := valid[f]
		if !ok {
			assert.ErrorIs(t, err, machine.ErrInvalidArgument, "%v", f)
			continue
		}
		require.NoError(t, err, "%v", f)
		assert.Equal(t, want, got, "%v", f)
		p, pp, s, u := want.Flags()
		assert.Equal(t, f, [4]bool{p, pp, s, u}, "Flags inverts NetworkTypeOf")
	}

	var n machine.MachineNetwork
	n.SetType(machine.PrivateSecondaryShared)
	assert.Equal(t, machine.MachineNetwork{Private: true, Shared: true, NetworkType: machine.PrivateSecondaryShared}, n)
}

// Networks of partition p1; "priv" is project a's own private network.
var (
	privA   = machine.RequestedNetwork{ID: "priv", Private: true, ProjectID: "a", PartitionID: "p1", AutoAcquire: true}
	privB   = machine.RequestedNetwork{ID: "priv-b", Private: true, ProjectID: "a", PartitionID: "p1", AutoAcquire: true}
	shared1 = machine.RequestedNetwork{ID: "shared1", Private: true, Shared: true, ProjectID: "a", PartitionID: "p1", AutoAcquire: true}
	shared2 = machine.RequestedNetwork{ID: "shared2", Private: true, Shared: true, ProjectID: "b", PartitionID: "p1", AutoAcquire: true}
	inet    = machine.RequestedNetwork{ID: "internet", ProjectID: "", PartitionID: "", AutoAcquire: true}
	under   = machine.RequestedNetwork{ID: "underlay", Underlay: true, PartitionID: "p1", AutoAcquire: true}
	super   = machine.RequestedNetwork{ID: "super", PrivateSuper: true, PartitionID: "p1", AutoAcquire: true}
)

func TestClassifyNetworks(t *testing.T) {
	got, err := machine.ClassifyNetworks(machine.RoleMachine, "a", "p1", []machine.RequestedNetwork{privA, inet})
	require.NoError(t, err)
	assert.Equal(t, []machine.ClassifiedNetwork{
		{ID: "priv", Type: machine.PrivatePrimaryUnshared, Acquire: true},
		{ID: "internet", Type: machine.External, Acquire: true},
	}, got)

	// Scenario 11: only a shared private network becomes the primary.
	got, err = machine.ClassifyNetworks(machine.RoleMachine, "a", "p1", []machine.RequestedNetwork{inet, shared1})
	require.NoError(t, err)
	assert.Equal(t, machine.PrivatePrimaryShared, got[1].Type)

	// A firewall may have its private network and shared ones beside it.
	got, err = machine.ClassifyNetworks(machine.RoleFirewall, "a", "p1", []machine.RequestedNetwork{shared1, privA, shared2, inet})
	require.NoError(t, err)
	assert.Equal(t, []machine.NetworkType{machine.PrivateSecondaryShared, machine.PrivatePrimaryUnshared, machine.PrivateSecondaryShared, machine.External},
		[]machine.NetworkType{got[0].Type, got[1].Type, got[2].Type, got[3].Type})

	// An explicit IP stops acquisition in its network; without autoacquire
	// the network needs one.
	explicit := privA
	explicit.ExplicitIPs = 1
	noAuto := inet
	noAuto.AutoAcquire, noAuto.ExplicitIPs = false, 1
	got, err = machine.ClassifyNetworks(machine.RoleMachine, "a", "p1", []machine.RequestedNetwork{explicit, noAuto})
	require.NoError(t, err)
	assert.False(t, got[0].Acquire)
	assert.False(t, got[1].Acquire)
}

func TestClassifyNetworksErrors(t *testing.T) {
	otherPartition := privA
	otherPartition.PartitionID = "p2"
	otherProject := privA
	otherProject.ProjectID = "b"
	noAutoNoIP := inet
	noAutoNoIP.AutoAcquire = false
	for _, tc := range []struct {
		name string
		role machine.Role
		nets []machine.RequestedNetwork
		want []string
	}{
		{"same network twice", machine.RoleMachine, []machine.RequestedNetwork{privA, inet, inet}, []string{`networks[2]: network "internet" is already listed as networks[1]`}},
		{"machine in a private and a shared private", machine.RoleMachine, []machine.RequestedNetwork{privA, shared1}, []string{"2 private networks are listed; a machine may have only one"}},
		{"firewall in two shared privates only", machine.RoleFirewall, []machine.RequestedNetwork{shared1, shared2}, []string{"2 shared private networks and no unshared one"}},
		{"machine in two shared privates only", machine.RoleMachine, []machine.RequestedNetwork{shared1, shared2}, []string{"2 shared private networks and no unshared one", "2 private networks are listed"}},
		{"underlay listed", machine.RoleFirewall, []machine.RequestedNetwork{privA, under}, []string{`network "underlay" is an underlay network`}},
		{"private super listed", machine.RoleMachine, []machine.RequestedNetwork{privA, super}, []string{`network "super" is a private super network`}},
		{"second unshared private", machine.RoleFirewall, []machine.RequestedNetwork{privA, privB}, []string{`network "priv-b" is a second unshared private network beside "priv"`}},
		{"no private", machine.RoleMachine, []machine.RequestedNetwork{inet}, []string{"no private network is listed"}},
		{"private in another partition", machine.RoleMachine, []machine.RequestedNetwork{otherPartition}, []string{`private network "priv" is in partition "p2", not in the machine's partition "p1"`}},
		{"primary of another project", machine.RoleMachine, []machine.RequestedNetwork{otherProject}, []string{`the primary private network "priv" belongs to project "b", not to the allocation's project "a"`}},
		{"autoacquire off without IP", machine.RoleMachine, []machine.RequestedNetwork{privA, noAutoNoIP}, []string{`network "internet" has autoacquire off`}},
		{"everything at once", machine.RoleMachine, []machine.RequestedNetwork{under, super, inet, inet}, []string{"underlay network", "private super network", "already listed", "no private network"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := machine.ClassifyNetworks(tc.role, "a", "p1", tc.nets)
			assert.Nil(t, got)
			requireProblems(t, err, machine.ErrInvalidArgument, tc.want...)
		})
	}
}
