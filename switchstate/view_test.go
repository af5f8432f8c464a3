package switchstate

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Scenario 16.
func TestNICLabel(t *testing.T) {
	now := time.Unix(1773060000, 0)
	wide := ViewOptions{Wide: true, Now: now}
	est := func(up int64) *BGPPortState {
		return &BGPPortState{BgpState: BGPEstablished, BgpTimerUpEstablished: up}
	}
	cases := []struct {
		name string
		nic  Nic
		opts ViewOptions
		want string
	}{
		{"established", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: est(now.Unix() - 54)}, wide, "Ethernet0 (BGP:Established(54s))"},
		{"minutes", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: est(now.Unix() - 1428)}, wide, "Ethernet0 (BGP:Established(23m48s))"},
		{"hours", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: est(now.Unix() - 3723)}, wide, "Ethernet0 (BGP:Established(1h2m3s))"},
		{"idle", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: &BGPPortState{BgpState: BGPIdle}}, wide, "Ethernet0 (BGP:Idle)"},
		{"down and idle", Nic{Name: "Ethernet0", Actual: PortDown, BGPPortState: &BGPPortState{BgpState: BGPIdle}}, wide, "Ethernet0 (DOWN) (BGP:Idle)"},
		{"not wide", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: est(now.Unix() - 54)}, ViewOptions{Now: now}, "Ethernet0"},
		{"no BGP state", Nic{Name: "Ethernet0", Actual: PortUp}, wide, "Ethernet0"},
		{"never reported", Nic{Name: "Ethernet0"}, wide, "Ethernet0 (UNKNOWN)"},
		{"unknown", Nic{Name: "Ethernet0", Actual: PortUnknown}, ViewOptions{}, "Ethernet0 (UNKNOWN)"},
		{"stale", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: &BGPPortState{BgpState: BGPEstablished, BgpTimerUpEstablished: 1, Stale: true}}, wide, "Ethernet0 (BGP:stale)"},
		{"timer 0", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: est(0)}, wide, "Ethernet0 (BGP:Established)"},
		{"clock skew", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: est(now.Unix() + 30)}, wide, "Ethernet0 (BGP:Established(0s))"},
		{"sub-second rounds", Nic{Name: "Ethernet0", Actual: PortUp, BGPPortState: est(now.Unix() - 54)}, ViewOptions{Wide: true, Now: now.Add(600 * time.Millisecond)}, "Ethernet0 (BGP:Established(55s))"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, nicLabel(c.nic, c.opts))
		})
	}
}

func viewSwitches() ([]*Switch, map[string]MachineInfo) {
	port := func(name string, actual PortState) Nic {
		return Nic{Name: name, Identifier: "id-" + name, Actual: actual}
	}
	conn := func(name, m string) Connection { return Connection{Nic: Nic{Name: name}, MachineID: m} }
	s2 := &Switch{ID: "leaf02", PartitionID: "fra-equ01", RackID: "rack01",
		Nics:        []Nic{port("Ethernet1", PortUp), port("Ethernet2", PortUp), port("Ethernet10", PortDown)},
		Connections: []Connection{conn("Ethernet10", "m1"), conn("Ethernet2", "m2"), conn("Ethernet1", "m3")},
	}
	s1 := &Switch{ID: "leaf01", PartitionID: "fra-equ01", RackID: "rack01",
		Nics:        []Nic{port("Ethernet1", PortUp), port("Ethernet2", PortUp), {Name: "Ethernet10", MAC: "aa:bb", Actual: PortUp}},
		Connections: []Connection{conn("Ethernet10", "m1"), conn("Ethernet2", "m2"), conn("Ethernet1", "m3")},
	}
	s3 := &Switch{ID: "leaf03", PartitionID: "fra-equ01", RackID: "rack02",
		Nics:        []Nic{port("Ethernet0", PortUp)},
		Connections: []Connection{conn("Ethernet0", "m4")},
	}
	machines := map[string]MachineInfo{
		"m1": {Partition: "fra-equ01", Rack: "rack01", Size: "c1-large-x86", Hostname: "web-1", ProductSerial: "P1", ChassisSerial: "C1"},
		"m2": {Partition: "fra-equ01", Rack: "rack01", Size: "c1-large-x86", Hostname: "web-2", ProductSerial: "P2", ChassisSerial: "C2"},
		"m3": {Partition: "fra-equ01", Rack: "rack01", Size: "s3-large-x86", Hostname: "db-1", ProductSerial: "P3", ChassisSerial: "C3"},
		"m4": {Partition: "fra-equ01", Rack: "rack02", Size: "s3-large-x86", Hostname: "db-2", ProductSerial: "P4", ChassisSerial: "C4"},
	}
	return []*Switch{s3, s2, s1}, machines
}

func rowIDs(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.ID+" "+r.NIC)
	}
	return out
}

// Scenario 17.
func TestConnectedMachines(t *testing.T) {
	switches, machines := viewSwitches()
	rows, err := ConnectedMachines(switches, machines, ViewOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"leaf01 ",
		"├─╴m3 Ethernet1", "├─╴m2 Ethernet2", "└─╴m1 Ethernet10",
		"leaf02 ",
		"├─╴m3 Ethernet1", "├─╴m2 Ethernet2", "└─╴m1 Ethernet10 (DOWN)",
		"leaf03 ",
		"└─╴m4 Ethernet0",
	}, rowIDs(rows))
	assert.True(t, rows[0].Switch)
	assert.Equal(t, "rack01", rows[0].Rack)
	assert.Equal(t, "aa:bb", rows[3].Identifier, "the MAC when there is no identifier")
	assert.Equal(t, "id-Ethernet1", rows[1].Identifier)
	assert.Equal(t, PortDown, rows[7].Actual)
	assert.Equal(t, "m1", rows[7].MachineID)
	assert.Equal(t, "Ethernet10", rows[7].Port)
	assert.Equal(t, "c1-large-x86", rows[3].Size)

	rows, err = ConnectedMachines(switches, machines, ViewOptions{MachineID: "m2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"leaf01 ", "└─╴m2 Ethernet2", "leaf02 ", "└─╴m2 Ethernet2"}, rowIDs(rows))

	rows, err = ConnectedMachines(switches, machines, ViewOptions{SizeID: "s3-large-x86"})
	require.NoError(t, err)
	assert.Equal(t, []string{"leaf01 ", "└─╴m3 Ethernet1", "leaf02 ", "└─╴m3 Ethernet1", "leaf03 ", "└─╴m4 Ethernet0"}, rowIDs(rows))

	delete(machines, "m2")
	_, err = ConnectedMachines(switches, machines, ViewOptions{})
	assert.ErrorContains(t, err, `switch port Ethernet2 is connected to a machine which does not exist: "m2"`)
	rows, err = ConnectedMachines(switches, machines, ViewOptions{MachineID: "m4"})
	require.NoError(t, err, "with a filter a missing machine is only not listed")
	assert.Equal(t, []string{"leaf03 ", "└─╴m4 Ethernet0"}, rowIDs(rows))
	assert.Equal(t, "leaf03", switches[0].ID, "the input is not reordered")
}

func TestConnectedMachinesBGPRows(t *testing.T) {
	now := time.Unix(1773060000, 0)
	sw := &Switch{ID: "leaf01", PartitionID: "p", RackID: "r",
		Nics: []Nic{{Name: "Ethernet0", Actual: PortUp, BGPPortState: &BGPPortState{BgpState: BGPIdle, Stale: true}}},
		// The connection's nic carries no state: the port's is used.
		Connections: []Connection{{Nic: Nic{Name: "Ethernet0"}, MachineID: "m1"}},
	}
	rows, err := ConnectedMachines([]*Switch{sw}, map[string]MachineInfo{"m1": {}}, ViewOptions{Wide: true, Now: now})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, "Ethernet0 (BGP:stale)", rows[1].NIC)
	assert.Equal(t, BGPIdle, rows[1].BGPState)
	assert.True(t, rows[1].BGPStale)
	assert.Equal(t, PortUp, rows[1].Actual)
}

func TestRenderConnectedMachines(t *testing.T) {
	switches, machines := viewSwitches()
	switches[1].Nics[0].BGPPortState = &BGPPortState{BgpState: BGPEstablished, BgpTimerUpEstablished: 1773059946}
	rows, err := ConnectedMachines(switches[1:], machines, ViewOptions{Wide: true, Now: time.Unix(1773060000, 0)})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, RenderConnectedMachines(&b, rows, true))
	want := `ID       NIC NAME                           IDENTIFIER      PARTITION   RACK     SIZE           HOSTNAME   PRODUCT SERIAL   CHASSIS SERIAL
leaf01                                                      fra-equ01   rack01
├─╴m3    Ethernet1                          id-Ethernet1    fra-equ01   rack01   s3-large-x86   db-1       P3               C3
├─╴m2    Ethernet2                          id-Ethernet2    fra-equ01   rack01   c1-large-x86   web-2      P2               C2
└─╴m1    Ethernet10                         aa:bb           fra-equ01   rack01   c1-large-x86   web-1      P1               C1
leaf02                                                      fra-equ01   rack01
├─╴m3    Ethernet1 (BGP:Established(54s))   id-Ethernet1    fra-equ01   rack01   s3-large-x86   db-1       P3               C3
├─╴m2    Ethernet2                          id-Ethernet2    fra-equ01   rack01   c1-large-x86   web-2      P2               C2
└─╴m1    Ethernet10 (DOWN)                  id-Ethernet10   fra-equ01   rack01   c1-large-x86   web-1      P1               C1
`
	out := b.String()
	assert.Equal(t, want, out)

	b.Reset()
	require.NoError(t, RenderConnectedMachines(&b, rows, false))
	assert.NotContains(t, b.String(), "HOSTNAME")
}
