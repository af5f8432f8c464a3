package machine_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/metalkit/metalkit/machine"
)

// Scenario 15.
func TestMachineTagsSystemLabelsWin(t *testing.T) {
	got := machine.MachineTags(
		[]string{"usertag=something", "machine.metal-stack.io/network.primary.asn=evil"},
		machine.SystemLabels{ASN: 4210000001, Rack: "rack01", Chassis: "chassis123"},
	)
	assert.Equal(t, []string{
		"machine.metal-stack.io/chassis=chassis123",
		"machine.metal-stack.io/network.primary.asn=4210000001",
		"machine.metal-stack.io/rack=rack01",
		"usertag=something",
	}, got)
}

func TestMachineTags(t *testing.T) {
	got := machine.MachineTags([]string{"b", "a", "b", "k=1", "k=2", "x=", "=v", ""}, machine.SystemLabels{})
	assert.Equal(t, []string{"=v", "a", "b", "k=2", "x="}, got, "plain tags once, the last value of a key, sorted")

	got = machine.MachineTags([]string{"machine.metal-stack.io/rack=mine"}, machine.SystemLabels{Chassis: "c1"})
	assert.Equal(t, []string{"machine.metal-stack.io/chassis=c1", "machine.metal-stack.io/rack=mine"}, got, "only known labels overlay")

	assert.Equal(t, []string{}, machine.MachineTags(nil, machine.SystemLabels{}))
}

func TestSystemLabelsOf(t *testing.T) {
	m := &machine.Machine{RackID: "rack01", IPMI: machine.IPMI{FRU: machine.FRU{ChassisPartSerial: "chassis123"}}}
	assert.Equal(t, machine.SystemLabels{Rack: "rack01", Chassis: "chassis123"}, machine.SystemLabelsOf(m), "free: no ASN")
	m.Allocation = &machine.Allocation{Networks: []machine.MachineNetwork{
		{NetworkID: "internet", ASN: 4210000009},
		{NetworkID: "priv0", Private: true},
		{NetworkID: "priv", Private: true, ASN: 4210000001},
		{NetworkID: "shared", Private: true, ASN: 4210000002},
	}}
	assert.Equal(t, uint32(4210000001), machine.SystemLabelsOf(m).ASN, "the first private network with an ASN")
}
