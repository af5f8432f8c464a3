package machine_test

import (
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/machine"
)

// keys returns the sorted keys of the JSON object v encodes to.
func keys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sorted(ss ...string) []string { slices.Sort(ss); return ss }

func TestJSONNames(t *testing.T) {
	assert.Equal(t, sorted("id", "partitionid", "rackid", "sizeid", "waiting", "hardware", "bios", "ipmi", "state", "ledstate", "tags", "allocation"),
		keys(t, machine.Machine{ID: "m1"}))
	assert.Equal(t, sorted("memory", "cpus", "block_devices", "network_interfaces", "gpus"), keys(t, machine.Hardware{}))
	assert.Equal(t, sorted("value", "description", "metal_hammer_version"), keys(t, machine.State{}))
	assert.Equal(t, sorted("value", "description", "issuer", "metal_hammer_version"), keys(t, machine.State{Issuer: "x"}))
	assert.Equal(t, sorted("address", "mac", "user", "password", "interface", "fru", "bmcversion", "powerstate"), keys(t, machine.IPMI{}))
	assert.Equal(t, sorted("mac", "name", "identifier", "neighbors"), keys(t, machine.NIC{}))
	assert.Equal(t, sorted("mac", "name", "identifier", "hostname"), keys(t, machine.Neighbor{}))
	assert.Equal(t, sorted("creator", "created", "name", "hostname", "project", "imageid", "networks", "ssh_pub_keys", "role",
		"allocationuuid", "boot_info", "reinstall", "succeeded"), keys(t, machine.Allocation{}))
	assert.Equal(t, sorted("networkid", "prefixes", "ips", "destinationprefixes", "vrf", "asn", "nat", "private", "privateprimary",
		"shared", "underlay", "networktype"), keys(t, machine.MachineNetwork{}))
	assert.Equal(t, sorted("image_id", "primary_disk", "os_partition", "initrd", "cmdline", "kernel", "bootloaderid"), keys(t, machine.BootInfo{}))
	assert.Equal(t, sorted("id", "liveliness", "events", "crash_loop", "failed_machine_reclaim"), keys(t, machine.EventContainer{}))
	assert.Equal(t, sorted("time", "event", "message"), keys(t, machine.ProvisioningEvent{}))
	assert.Equal(t, sorted("id", "constraints"), keys(t, machine.Size{}))
	assert.Equal(t, sorted("type", "min", "max", "identifier"), keys(t, machine.Constraint{Min: 1, Max: 2, Identifier: "*"}))
	assert.Equal(t, sorted("id", "sizeid", "partitionids", "projectid", "amount"), keys(t, machine.SizeReservation{}))
	assert.Equal(t, sorted("projectid", "imageid", "ssh_pub_keys", "networks"), keys(t, machine.AllocateRequest{}))
	assert.Equal(t, sorted("protocol", "ports", "from", "to", "comment"), keys(t, machine.IngressRule{Protocol: "TCP", To: []netip.Prefix{netip.MustParsePrefix("::/0")}, Comment: "c"}))
}

func TestJSONRoundTrip(t *testing.T) {
	crashed := machine.ProvisioningEvent{Time: now, Event: machine.EventCrashed, Message: "panic"}
	c := machine.EventContainer{ID: "m1", Liveliness: machine.Alive, Events: []machine.ProvisioningEvent{crashed}, LastEventTime: now,
		LastErrorEvent: &crashed, CrashLoop: true}
	m := machine.Machine{
		ID: "m1", PartitionID: "p1", SizeID: "c1",
		State: machine.State{Value: machine.StateReserved, Description: "x", Issuer: "admin"},
		Allocation: &machine.Allocation{Created: now, Project: "a", Role: machine.RoleFirewall,
			Networks: []machine.MachineNetwork{{NetworkID: "n", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/22")},
				IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")}, ASN: 4210000001}},
			FirewallRules: &machine.FirewallRules{Egress: []machine.EgressRule{{Protocol: machine.ProtocolTCP, Ports: []int{443}, To: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}},
			DNSServers:    []machine.DNSServer{{IP: netip.MustParseAddr("1.1.1.1")}},
		},
		IPMI: machine.IPMI{Address: "10.1.0.1:623", LastUpdated: now.Add(-time.Hour)},
	}
	for _, v := range []any{&c, &m} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		fresh := v
		switch v.(type) {
		case *machine.EventContainer:
			fresh = &machine.EventContainer{}
		case *machine.Machine:
			fresh = &machine.Machine{}
		}
		require.NoError(t, json.Unmarshal(b, fresh))
		assert.Equal(t, v, fresh)
	}
}
