package machine

import (
	"net/netip"
	"time"
)

// Machine is a bare-metal server as stored and returned. JSON names are
// metal-api's.
type Machine struct {
	// ID is the machine's hardware UUID, sent by metal-hammer; it is never
	// generated.
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	PartitionID string `json:"partitionid"`
	// RackID comes only from the switches the machine is connected to.
	RackID string `json:"rackid"`
	// SizeID is identified at every registration (see Identify); it is
	// UnknownSize when no size or several sizes match.
	SizeID string `json:"sizeid"`
	// Waiting is true while the machine waits for an allocation.
	Waiting bool `json:"waiting"`
	// Hardware is replaced whole on every registration.
	Hardware Hardware `json:"hardware"`
	BIOS     BIOS     `json:"bios"`
	// IPMI is stored only; registration replaces it only when the request
	// carries one.
	IPMI     IPMI     `json:"ipmi"`
	State    State    `json:"state"`
	LEDState LEDState `json:"ledstate"`
	// Tags are the registration's tags on a new machine; an allocation
	// sets the user's tags plus the system labels (see MachineTags), and
	// freeing sets them to null.
	Tags []string `json:"tags"`
	// Allocation is nil exactly when the machine is free.
	Allocation *Allocation `json:"allocation"`
	// Created and Changed are set by the service.
	Created time.Time `json:"created,omitzero"`
	Changed time.Time `json:"changed,omitzero"`
}

// Allocated reports whether the machine has an allocation.
func (m *Machine) Allocated() bool { return m.Allocation != nil }

// IsFirewall reports whether the machine is allocated as a firewall.
func (m *Machine) IsFirewall() bool {
	return m.Allocation != nil && m.Allocation.Role == RoleFirewall
}

// Hardware is what metal-hammer reports of a machine's hardware.
type Hardware struct {
	// Memory is the total memory in bytes.
	Memory uint64 `json:"memory"`
	CPUs   []CPU  `json:"cpus"`
	// Disks are the block devices; a storage constraint sums their sizes.
	Disks []BlockDevice `json:"block_devices"`
	NICs  []NIC         `json:"network_interfaces"`
	GPUs  []GPU         `json:"gpus"`
}

// CPU is one processor (socket) of a machine.
type CPU struct {
	Vendor string `json:"vendor"`
	// Model is what a cores constraint's identifier is matched against.
	Model string `json:"model"`
	// Cores is the number of physical cores; a cores constraint sums them.
	Cores uint32 `json:"cores"`
	// Threads is the number of hardware threads.
	Threads uint32 `json:"threads"`
}

// GPU is one graphics processor of a machine.
type GPU struct {
	Vendor string `json:"vendor"`
	// Model is what a gpu constraint's identifier is matched against.
	Model string `json:"model"`
}

// BlockDevice is one disk of a machine.
type BlockDevice struct {
	// Name is the device name (such as "/dev/sda"), what a storage
	// constraint's identifier is matched against.
	Name string `json:"name"`
	// Size is the capacity in bytes.
	Size uint64 `json:"size"`
}

// NIC is a network interface of a machine, or a switch port.
type NIC struct {
	MacAddress string `json:"mac"`
	Name       string `json:"name"`
	// Identifier identifies the interface where the MAC does not (an
	// interface index, a port name on the switch side); see
	// EffectiveIdentifier.
	Identifier string `json:"identifier"`
	// VRF is the VRF of the switch port ("" unprovisioned, "default" a
	// firewall port, "vrf<N>" a tenant VRF); empty on a machine's NIC.
	VRF string `json:"vrf,omitempty"`
	// Neighbors are the switch ports seen by LLDP on this interface.
	Neighbors []Neighbor `json:"neighbors"`
}

// EffectiveIdentifier is the identifier all matching uses: Identifier, or
// the MAC when Identifier is empty.
func (n NIC) EffectiveIdentifier() string {
	if n.Identifier != "" {
		return n.Identifier
	}
	return n.MacAddress
}

// Neighbor is a switch port that a machine's NIC sees by LLDP.
type Neighbor struct {
	MacAddress string `json:"mac"`
	// Name is the port's name on the switch (such as "Ethernet0").
	Name       string `json:"name"`
	Identifier string `json:"identifier"`
	// Hostname is the switch's hostname, which is its id.
	Hostname string `json:"hostname"`
}

// EffectiveIdentifier is Identifier, or the MAC when Identifier is empty.
func (n Neighbor) EffectiveIdentifier() string {
	if n.Identifier != "" {
		return n.Identifier
	}
	return n.MacAddress
}

// BIOS describes a machine's firmware.
type BIOS struct {
	Version string `json:"version"`
	Vendor  string `json:"vendor"`
	Date    string `json:"date"`
}

// IPMI is the connection data and last report of a machine's BMC. It is
// stored only.
type IPMI struct {
	// Address is the BMC's host or host:port; the host may be a name.
	Address    string `json:"address"`
	MacAddress string `json:"mac"`
	User       string `json:"user"`
	Password   string `json:"password"`
	Interface  string `json:"interface"`
	FRU        FRU    `json:"fru"`
	BMCVersion string `json:"bmcversion"`
	PowerState string `json:"powerstate"`
	// LastUpdated is when the IPMI data was last set.
	LastUpdated time.Time `json:"last_updated,omitzero"`
	// PowerMetric is the BMC's last power reading, nil when none.
	PowerMetric *PowerMetric `json:"powermetric,omitempty"`
	// PowerSupplies are the BMC's power supplies.
	PowerSupplies []PowerSupply `json:"powersupplies,omitempty"`
}

// PowerMetric is a BMC's power reading, in watts over an interval.
type PowerMetric struct {
	AverageConsumedWatts float32 `json:"averageconsumedwatts"`
	IntervalInMin        float32 `json:"intervalinmin"`
	MaxConsumedWatts     float32 `json:"maxconsumedwatts"`
	MinConsumedWatts     float32 `json:"minconsumedwatts"`
}

// PowerSupply is one power supply a BMC reports.
type PowerSupply struct {
	Status PowerSupplyStatus `json:"status"`
}

// PowerSupplyStatus is a power supply's health and state as the BMC words
// them (e.g. "OK", "Enabled").
type PowerSupplyStatus struct {
	Health string `json:"health"`
	State  string `json:"state"`
}

// FRU is the Field Replaceable Unit data of a machine.
type FRU struct {
	ChassisPartNumber string `json:"chassis_part_number,omitempty"`
	// ChassisPartSerial is the chassis serial, shown as the system label
	// machine.metal-stack.io/chassis.
	ChassisPartSerial   string `json:"chassis_part_serial,omitempty"`
	BoardMfg            string `json:"board_mfg,omitempty"`
	BoardMfgSerial      string `json:"board_mfg_serial,omitempty"`
	BoardPartNumber     string `json:"board_part_number,omitempty"`
	ProductManufacturer string `json:"product_manufacturer,omitempty"`
	ProductPartNumber   string `json:"product_part_number,omitempty"`
	ProductSerial       string `json:"product_serial,omitempty"`
}

// LEDValue is the state of a chassis identify LED.
type LEDValue string

// The LED values.
const (
	LEDOn  LEDValue = "LED-ON"
	LEDOff LEDValue = "LED-OFF"
)

// LEDState is the chassis identify LED of a machine; stored only.
type LEDState struct {
	Value       LEDValue `json:"value"`
	Description string   `json:"description"`
}

// Role is what an allocated machine acts as.
type Role string

// The roles.
const (
	RoleMachine  Role = "machine"
	RoleFirewall Role = "firewall"
)

// DefaultHostname is the hostname of an allocation whose request names
// none.
const DefaultHostname = "metal"

// Allocation is what an allocated machine carries. JSON names are
// metal-api's.
type Allocation struct {
	// Creator is the user who allocated the machine.
	Creator string    `json:"creator"`
	Created time.Time `json:"created"`
	Name    string    `json:"name"`
	// Description is the allocation's description.
	Description string `json:"description,omitempty"`
	// Hostname defaults to DefaultHostname.
	Hostname string `json:"hostname"`
	// Project is the project the machine is allocated to.
	Project            string `json:"project"`
	ImageID            string `json:"imageid"`
	FilesystemLayoutID string `json:"filesystemlayoutid,omitempty"`
	// Networks are the machine's networks in the order of the request
	// (a firewall's underlay last).
	Networks   []MachineNetwork `json:"networks"`
	SSHPubKeys []string         `json:"ssh_pub_keys"`
	// UserData is opaque to the library.
	UserData string `json:"user_data,omitempty"`
	Role     Role   `json:"role"`
	// AllocationUUID is new for every allocation, so that allocations of
	// one machine over time can be told apart.
	AllocationUUID string `json:"allocationuuid"`
	// ConsolePassword is set by the install report. It is a secret: an
	// API that returns machines should leave it out.
	ConsolePassword string `json:"console_password,omitempty"`
	// BootInfo is set by the install report.
	BootInfo *BootInfo `json:"boot_info"`
	// Reinstall is true while a reinstall is pending.
	Reinstall bool `json:"reinstall"`
	// Succeeded is true once the install report arrived.
	Succeeded bool `json:"succeeded"`
	// FirewallRules is set only for a firewall with at least one rule.
	FirewallRules *FirewallRules `json:"firewall_rules,omitempty"`
	DNSServers    []DNSServer    `json:"dns_servers,omitempty"`
	NTPServers    []NTPServer    `json:"ntp_servers,omitempty"`
}

// BootInfo is what the install report says about booting the installed
// machine from its disk.
type BootInfo struct {
	ImageID      string `json:"image_id"`
	PrimaryDisk  string `json:"primary_disk"`
	OSPartition  string `json:"os_partition"`
	Initrd       string `json:"initrd"`
	Cmdline      string `json:"cmdline"`
	Kernel       string `json:"kernel"`
	BootloaderID string `json:"bootloaderid"`
}

// MachineNetwork is one network of an allocated machine.
type MachineNetwork struct {
	NetworkID string         `json:"networkid"`
	Prefixes  []netip.Prefix `json:"prefixes"`
	// IPs are the machine's addresses in this network, in acquisition
	// order.
	IPs                 []netip.Addr   `json:"ips"`
	DestinationPrefixes []netip.Prefix `json:"destinationprefixes"`
	VRF                 uint32         `json:"vrf"`
	// ASN is the allocation's BGP AS number, the same on every network of
	// the machine.
	ASN       uint32 `json:"asn"`
	NAT       bool   `json:"nat"`
	ProjectID string `json:"projectid,omitempty"`
	// The four flags from which NetworkType derives (see NetworkTypeOf).
	Private        bool `json:"private"`
	PrivatePrimary bool `json:"privateprimary"`
	Shared         bool `json:"shared"`
	Underlay       bool `json:"underlay"`
	// NetworkType is derived from the four flags; SetType keeps both in
	// step.
	NetworkType NetworkType `json:"networktype"`
}

// SetType sets the network type and the four flags it derives from.
func (n *MachineNetwork) SetType(t NetworkType) {
	n.Private, n.PrivatePrimary, n.Shared, n.Underlay = t.Flags()
	n.NetworkType = t
}

// FirewallRules are the rules a firewall deploys when it is allocated.
type FirewallRules struct {
	Egress  []EgressRule  `json:"egress,omitempty"`
	Ingress []IngressRule `json:"ingress,omitempty"`
}

// Protocol is the protocol of a firewall rule.
type Protocol string

// The protocols, in the spelling that is stored.
const (
	ProtocolTCP Protocol = "TCP"
	ProtocolUDP Protocol = "UDP"
)

// EgressRule allows traffic from the firewall's networks to prefixes.
type EgressRule struct {
	// Protocol is TCP (also when empty in a request) or UDP; a request
	// may spell it in any case.
	Protocol Protocol `json:"protocol,omitempty"`
	// Ports are destination ports, 0..65535.
	Ports []int `json:"ports"`
	// To are the destination prefixes, all of one address family.
	To []netip.Prefix `json:"to"`
	// Comment is at most MaxCommentLength letters, '_', '-' and spaces.
	Comment string `json:"comment,omitempty"`
}

// IngressRule allows traffic from prefixes to the firewall's networks.
type IngressRule struct {
	// Protocol is TCP (also when empty in a request) or UDP.
	Protocol Protocol `json:"protocol,omitempty"`
	// Ports are destination ports, 0..65535.
	Ports []int `json:"ports"`
	// To are the destination prefixes; together with From, all of one
	// address family.
	To []netip.Prefix `json:"to,omitempty"`
	// From are the source prefixes.
	From []netip.Prefix `json:"from"`
	// Comment is at most MaxCommentLength letters, '_', '-' and spaces.
	Comment string `json:"comment,omitempty"`
}

// DNSServer is a DNS server a machine uses.
type DNSServer struct {
	IP netip.Addr `json:"ip"`
}

// NTPServer is an NTP server a machine uses.
type NTPServer struct {
	// Address is an IP address or a DNS name.
	Address string `json:"address"`
}
