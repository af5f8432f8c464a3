package machine_test

import (
	"crypto/ed25519"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/metalkit/metalkit/machine"
)

// authorizedKey returns an authorized_keys line for a fixed ed25519 key.
func authorizedKey(t *testing.T) string {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub, err := ssh.NewPublicKey(priv.Public())
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " user@example"
}

func no() *bool { b := false; return &b }

func okRequest() machine.AllocateRequest {
	return machine.AllocateRequest{
		ProjectID: "a", PartitionID: "p1", SizeID: "c1", ImageID: "ubuntu-24.04",
		Networks: []machine.AllocationNetwork{{NetworkID: "priv"}},
	}
}

func TestValidateAllocateRequestDefaults(t *testing.T) {
	req := okRequest()
	req.SSHPubKeys = []string{authorizedKey(t)}
	req.IPs = []string{"10.0.0.5", "2001:db8::5"}
	req.DNSServers = []machine.DNSServer{{IP: netip.MustParseAddr("1.1.1.1")}}
	req.NTPServers = []machine.NTPServer{{Address: "pool.ntp.org"}, {Address: "192.0.2.1"}, {Address: "time_1.example.com."}}
	spec, err := machine.ValidateAllocateRequest(req, "user@example.com")
	require.NoError(t, err)
	assert.Equal(t, machine.RoleMachine, spec.Request.Role)
	assert.Equal(t, machine.DefaultHostname, spec.Request.Hostname)
	assert.Equal(t, "user@example.com", spec.Creator)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("2001:db8::5")}, spec.IPs)
	assert.True(t, spec.Request.Networks[0].Auto(), "autoacquire defaults to true")
	assert.False(t, machine.AllocationNetwork{AutoAcquire: no()}.Auto())

	empty := okRequest()
	empty.Role, empty.FirewallRules = machine.RoleFirewall, &machine.FirewallRules{}
	spec, err = machine.ValidateAllocateRequest(empty, "u")
	require.NoError(t, err)
	assert.Nil(t, spec.Request.FirewallRules, "kept only with at least one rule")
}

// Scenario 10.
func TestValidateAllocateRequestScenario(t *testing.T) {
	_, err := machine.ValidateAllocateRequest(machine.AllocateRequest{}, "")
	requireProblems(t, err, machine.ErrInvalidArgument,
		"machine: networks: at least one network is required", "machine: projectid is required", "machine: creator is required",
		"machine: partitionid is required", "machine: sizeid is required")

	req := okRequest()
	req.IPs = []string{"42"}
	_, err = machine.ValidateAllocateRequest(req, "u")
	requireProblems(t, err, machine.ErrInvalidArgument, `machine: ips[0] "42" is not an IP address`)

	req = okRequest()
	req.SSHPubKeys = []string{authorizedKey(t), "42"}
	_, err = machine.ValidateAllocateRequest(req, "u")
	requireProblems(t, err, machine.ErrInvalidArgument, `machine: ssh_pub_keys[1] "42" is not an authorized_keys line`)

	req = okRequest()
	req.Role = machine.RoleFirewall
	req.Networks = []machine.AllocationNetwork{{NetworkID: "priv", AutoAcquire: no()}}
	_, err = machine.ValidateAllocateRequest(req, "u")
	requireProblems(t, err, machine.ErrInvalidArgument,
		"a firewall needs an IP in ips or at least one network with autoacquire",
		"1 networks have autoacquire false but only 0 ips are given")
}

func TestValidateAllocateRequestProblems(t *testing.T) {
	key := authorizedKey(t)
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		edit   func(r *machine.AllocateRequest)
		want   []string
		passes bool
	}{
		{"unknown role", func(r *machine.AllocateRequest) { r.Role = "switch" }, []string{`role "switch" is unknown`}, false},
		{"uuid without partition and size", func(r *machine.AllocateRequest) { r.UUID, r.PartitionID, r.SizeID = "m1", "", "" }, nil, true},
		{"ip with zone", func(r *machine.AllocateRequest) { r.IPs = []string{"fe80::1%eth0"} }, []string{`ips[0] "fe80::1%eth0": zones are not allowed`}, false},
		{"two keys in one entry", func(r *machine.AllocateRequest) { r.SSHPubKeys = []string{key + "\n" + key} }, []string{"holds more than one authorized_keys line"}, false},
		{"more non-auto networks than ips", func(r *machine.AllocateRequest) {
			r.Networks = append(r.Networks, machine.AllocationNetwork{NetworkID: "n2", AutoAcquire: no()}, machine.AllocationNetwork{NetworkID: "n3", AutoAcquire: no()})
			r.IPs = []string{"10.0.0.1"}
		}, []string{"2 networks have autoacquire false but only 1 ips are given"}, false},
		{"firewall with an IP and no auto network", func(r *machine.AllocateRequest) {
			r.Role = machine.RoleFirewall
			r.Networks = []machine.AllocationNetwork{{NetworkID: "priv", AutoAcquire: no()}}
			r.IPs = []string{"10.0.0.1"}
		}, nil, true},
		{"four dns servers", func(r *machine.AllocateRequest) {
			r.DNSServers = make([]machine.DNSServer, 4)
			for i := range r.DNSServers {
				r.DNSServers[i].IP = netip.MustParseAddr("192.0.2.1")
			}
		}, []string{"dns_servers: 4 are given; at most 3"}, false},
		{"invalid dns server", func(r *machine.AllocateRequest) { r.DNSServers = []machine.DNSServer{{}} }, []string{"dns_servers[0].ip is not an IP address"}, false},
		{"six ntp servers", func(r *machine.AllocateRequest) { r.NTPServers = make([]machine.NTPServer, 6); fill(r.NTPServers) }, []string{"ntp_servers: 6 are given; at most 5"}, false},
		{"bad ntp servers", func(r *machine.AllocateRequest) {
			r.NTPServers = []machine.NTPServer{{Address: "1.2.3"}, {Address: "-bad.example"}, {Address: "a..b"}, {Address: ""}, {Address: "ntp ex"}}
		}, []string{`ntp_servers[0].address "1.2.3"`, `ntp_servers[1].address "-bad.example"`, `ntp_servers[2].address "a..b"`, `ntp_servers[3].address ""`, `ntp_servers[4].address "ntp ex"`}, false},
		{"rules on a machine", func(r *machine.AllocateRequest) {
			r.FirewallRules = &machine.FirewallRules{Egress: []machine.EgressRule{{Ports: []int{443}, To: prefixes("0.0.0.0/0")}}}
		}, []string{"firewall_rules: only a firewall has firewall rules"}, false},
		{"bad rules", func(r *machine.AllocateRequest) {
			r.Role = machine.RoleFirewall
			r.FirewallRules = &machine.FirewallRules{
				Egress: []machine.EgressRule{
					{Protocol: "icmp", Ports: []int{-1, 65536, 0, 65535}, To: prefixes("10.0.0.1/8", "2001:db8::/32"), Comment: "allow: all"},
				},
				Ingress: []machine.IngressRule{
					{Ports: []int{22}, From: prefixes("192.0.2.0/24"), To: prefixes("2001:db8::/64"), Comment: strings.Repeat("x", 101)},
					{From: []netip.Prefix{{}}},
				},
			}
		}, []string{
			`firewall_rules.egress[0].protocol "icmp" is unknown`,
			"firewall_rules.egress[0].ports[0] -1 is outside 0..65535",
			"firewall_rules.egress[0].ports[1] 65536 is outside 0..65535",
			`firewall_rules.egress[0].comment "allow: all" contains ':'`,
			`firewall_rules.egress[0].to[0] "10.0.0.1/8" has host bits set; the canonical form is 10.0.0.0/8`,
			`firewall_rules.egress[0].to[1] "2001:db8::/32" is of another address family than firewall_rules.egress[0].to[0]`,
			"firewall_rules.ingress[0].comment",
			`firewall_rules.ingress[0].to[0] "2001:db8::/64" is of another address family than firewall_rules.ingress[0].from[0]`,
			"firewall_rules.ingress[1].from[0] is not a valid prefix",
		}, false},
		{"limits", func(r *machine.AllocateRequest) {
			r.Name, r.Tags, r.Networks[0].NetworkID = strings.Repeat("n", 300), []string{""}, strings.Repeat("i", 200)
		}, []string{"machine: name", "machine: tags[0] is empty", "machine: networks[0].networkid"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := okRequest()
			tc.edit(&req)
			spec, err := machine.ValidateAllocateRequest(req, "u")
			if tc.passes {
				require.NoError(t, err)
				require.NotNil(t, spec)
				return
			}
			assert.Nil(t, spec)
			requireProblems(t, err, machine.ErrInvalidArgument, tc.want...)
		})
	}
}

func fill(ns []machine.NTPServer) {
	for i := range ns {
		ns[i].Address = "pool.ntp.org"
	}
}

func TestValidateAllocateRequestFirewallRules(t *testing.T) {
	req := okRequest()
	req.Role = machine.RoleFirewall
	req.FirewallRules = &machine.FirewallRules{
		Egress:  []machine.EgressRule{{Protocol: "udp", Ports: []int{53}, To: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Comment: "allow DNS"}},
		Ingress: []machine.IngressRule{{Ports: []int{443}, From: []netip.Prefix{netip.MustParsePrefix("::/0")}, To: []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}, Comment: "web_in-from v-six"}},
	}
	spec, err := machine.ValidateAllocateRequest(req, "u")
	require.NoError(t, err)
	assert.Equal(t, machine.ProtocolUDP, spec.Request.FirewallRules.Egress[0].Protocol)
	assert.Equal(t, machine.ProtocolTCP, spec.Request.FirewallRules.Ingress[0].Protocol, "tcp by default")
	assert.Equal(t, machine.Protocol("udp"), req.FirewallRules.Egress[0].Protocol, "the caller's request is not modified")
}

func TestCheckAllocationTarget(t *testing.T) {
	m := &machine.Machine{ID: "m1", PartitionID: "p1", SizeID: "c1"}
	assert.NoError(t, machine.CheckAllocationTarget(machine.AllocateRequest{UUID: "m1"}, m))
	assert.NoError(t, machine.CheckAllocationTarget(machine.AllocateRequest{UUID: "m1", PartitionID: "p1", SizeID: "c1"}, m))

	// Scenario 19: a size differing from the machine's names both.
	err := machine.CheckAllocationTarget(machine.AllocateRequest{UUID: "m1", PartitionID: "p2", SizeID: "c2"}, m)
	requireProblems(t, err, machine.ErrInvalidArgument,
		`partitionid "p2" differs from the partition "p1" of machine "m1"`, `sizeid "c2" differs from the size "c1" of machine "m1"`)

	allocated := &machine.Machine{ID: "m1", Allocation: &machine.Allocation{Project: "a"}}
	err = machine.CheckAllocationTarget(machine.AllocateRequest{UUID: "m1"}, allocated)
	requireProblems(t, err, machine.ErrConflict, `machine "m1" is already allocated to project "a"`, `machine "m1" has no partition`)

	reserved := &machine.Machine{ID: "m1", PartitionID: "p1", SizeID: "c1", State: machine.State{Value: machine.StateReserved, Description: "x"}}
	assert.NoError(t, machine.CheckAllocationTarget(machine.AllocateRequest{UUID: "m1"}, reserved), "state is not checked by id")
}

func TestIsCandidate(t *testing.T) {
	alive := &machine.EventContainer{Liveliness: machine.Alive}
	base := machine.Machine{ID: "m1", PartitionID: "p1", SizeID: "c1", Waiting: true}
	assert.True(t, machine.IsCandidate(&base, alive, "p1", "c1"))
	for name, edit := range map[string]func(m *machine.Machine){
		"allocated":       func(m *machine.Machine) { m.Allocation = &machine.Allocation{} },
		"other partition": func(m *machine.Machine) { m.PartitionID = "p2" },
		"other size":      func(m *machine.Machine) { m.SizeID = "c2" },
		"reserved":        func(m *machine.Machine) { m.State.Value = machine.StateReserved },
		"locked":          func(m *machine.Machine) { m.State.Value = machine.StateLocked },
		"not waiting":     func(m *machine.Machine) { m.Waiting = false },
	} {
		m := base
		edit(&m)
		assert.False(t, machine.IsCandidate(&m, alive, "p1", "c1"), name)
	}
	assert.False(t, machine.IsCandidate(&base, nil, "p1", "c1"), "no container")
	assert.False(t, machine.IsCandidate(&base, &machine.EventContainer{Liveliness: machine.Unknown}, "p1", "c1"), "not alive")
}
