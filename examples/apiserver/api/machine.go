package api

import (
	"errors"
	"net/netip"
	"time"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/machine"
)

// recentEvents is how many of a machine's newest provisioning events a
// machine response shows (metal-api's RecentProvisioningEventsLimit).
const recentEvents = 20

// machineResponse is metal-api's v1.MachineResponse, which is also its
// v1.FirewallResponse.
type machineResponse struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Partition   *partition         `json:"partition"`
	RackID      string             `json:"rackid"`
	Size        *sizeResponse      `json:"size"`
	Hardware    machineHardware    `json:"hardware"`
	BIOS        machine.BIOS       `json:"bios"`
	Allocation  *machineAllocation `json:"allocation"`
	State       machine.State      `json:"state"`
	LEDState    machine.LEDState   `json:"ledstate"`
	// Liveliness is the event container's, empty without one.
	Liveliness string        `json:"liveliness"`
	Events     machineEvents `json:"events"`
	Tags       []string      `json:"tags"`
	Created    time.Time     `json:"created"`
	Changed    time.Time     `json:"changed"`
}

// machineIPMIResponse is metal-api's v1.MachineIPMIResponse: a machine
// response with the IPMI connection data.
type machineIPMIResponse struct {
	*machineResponse
	IPMI machineIPMI `json:"ipmi"`
}

// machineHardware is metal-api's v1.MachineHardware.
type machineHardware struct {
	Memory uint64 `json:"memory"`
	// CPUCores is the sum of the CPUs' cores.
	CPUCores int                   `json:"cpu_cores"`
	Disks    []machine.BlockDevice `json:"disks"`
	CPUs     []machine.CPU         `json:"cpus"`
	GPUs     []machine.GPU         `json:"gpus"`
	Nics     []machineNic          `json:"nics"`
}

// machineNic is metal-api's v1.MachineNic, a NIC or an LLDP neighbour.
type machineNic struct {
	MAC        string       `json:"mac"`
	Name       string       `json:"name"`
	Identifier string       `json:"identifier"`
	Neighbors  []machineNic `json:"neighbors"`
}

// machineEvents is metal-api's v1.MachineRecentProvisioningEvents.
type machineEvents struct {
	// Log holds the newest events, newest first.
	Log                  []machine.ProvisioningEvent `json:"log"`
	LastEventTime        *time.Time                  `json:"last_event_time"`
	LastErrorEvent       *machine.ProvisioningEvent  `json:"last_error_event,omitempty"`
	CrashLoop            bool                        `json:"crash_loop"`
	FailedMachineReclaim bool                        `json:"failed_machine_reclaim"`
}

// machineAllocation is metal-api's v1.MachineAllocation. The library keeps
// no VPN data, so vpn is never answered; the console password is left out
// (it has a route of its own).
type machineAllocation struct {
	Creator     string    `json:"creator"`
	Created     time.Time `json:"created"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Project     string    `json:"project"`
	// Image is the catalog's image of the allocation's image id, nil when
	// the catalog no longer has it.
	Image *image `json:"image"`
	// FilesystemLayout is the catalog's layout of the allocation, nil when
	// none was asked for.
	FilesystemLayout *filesystemLayout   `json:"filesystemlayout"`
	Networks         []machineNetwork    `json:"networks"`
	Hostname         string              `json:"hostname"`
	SSHPubKeys       []string            `json:"ssh_pub_keys"`
	UserData         string              `json:"user_data,omitempty"`
	Succeeded        bool                `json:"succeeded"`
	Reinstall        bool                `json:"reinstall"`
	BootInfo         *machine.BootInfo   `json:"boot_info"`
	Role             string              `json:"role"`
	AllocationUUID   string              `json:"allocationuuid"`
	FirewallRules    *firewallRulesJSON  `json:"firewall_rules,omitempty"`
	DNSServers       []machine.DNSServer `json:"dns_servers,omitempty"`
	NTPServers       []machine.NTPServer `json:"ntp_servers,omitempty"`
}

// machineNetwork is metal-api's v1.MachineNetwork; private and underlay
// are the deprecated flags it still answers beside networktype.
type machineNetwork struct {
	NetworkID           string   `json:"networkid"`
	Prefixes            []string `json:"prefixes"`
	IPs                 []string `json:"ips"`
	DestinationPrefixes []string `json:"destinationprefixes"`
	NetworkType         string   `json:"networktype"`
	VRF                 uint32   `json:"vrf"`
	ASN                 int64    `json:"asn"`
	NAT                 bool     `json:"nat"`
	Private             bool     `json:"private"`
	Underlay            bool     `json:"underlay"`
}

// machineIPMI is metal-api's v1.MachineIPMI. The library keeps no power
// metric and no power supplies: they are answered zero and empty.
type machineIPMI struct {
	Address       string        `json:"address"`
	MAC           string        `json:"mac"`
	User          string        `json:"user"`
	Password      string        `json:"password"`
	Interface     string        `json:"interface"`
	FRU           machineFRU    `json:"fru"`
	BMCVersion    string        `json:"bmcversion"`
	PowerState    string        `json:"powerstate"`
	PowerMetric   powerMetric   `json:"powermetric"`
	PowerSupplies []powerSupply `json:"powersupplies"`
	LastUpdated   time.Time     `json:"last_updated"`
}

// machineFRU is metal-api's v1.MachineFru, every field answered.
type machineFRU struct {
	ChassisPartNumber   string `json:"chassis_part_number"`
	ChassisPartSerial   string `json:"chassis_part_serial"`
	BoardMfg            string `json:"board_mfg"`
	BoardMfgSerial      string `json:"board_mfg_serial"`
	BoardPartNumber     string `json:"board_part_number"`
	ProductManufacturer string `json:"product_manufacturer"`
	ProductPartNumber   string `json:"product_part_number"`
	ProductSerial       string `json:"product_serial"`
}

// powerMetric is metal-api's v1.PowerMetric.
type powerMetric struct {
	AverageConsumedWatts float32 `json:"averageconsumedwatts"`
	IntervalInMin        float32 `json:"intervalinmin"`
	MaxConsumedWatts     float32 `json:"maxconsumedwatts"`
	MinConsumedWatts     float32 `json:"minconsumedwatts"`
}

// powerSupply is metal-api's v1.PowerSupply.
type powerSupply struct {
	Status struct {
		Health string `json:"health"`
		State  string `json:"state"`
	} `json:"status"`
}

// refs resolves what machine responses refer to (sizes, partitions,
// images, filesystem layouts, event containers) inside one read
// transaction, each entity once. An entity that no longer exists is
// answered as null (a size by its id only).
type refs struct {
	tx      *metalkit.Tx
	sizes   map[string]*sizeResponse
	parts   map[string]*partition
	images  map[string]*image
	layouts map[string]*filesystemLayout
}

func newRefs(tx *metalkit.Tx) *refs {
	return &refs{tx: tx, sizes: map[string]*sizeResponse{}, parts: map[string]*partition{},
		images: map[string]*image{}, layouts: map[string]*filesystemLayout{}}
}

// absent reports whether err says the entity does not exist.
func absent(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }

func (r *refs) size(id string) (*sizeResponse, error) {
	if id == machine.UnknownSize {
		return unknownSize(), nil
	}
	return cached(r.sizes, id, func(id string) (*sizeResponse, error) {
		sz, err := r.tx.Machines.GetSize(id)
		if absent(err) {
			return newSizeResponse(&machine.Size{ID: id}), nil
		}
		if err != nil {
			return nil, err
		}
		return newSizeResponse(sz), nil
	})
}

func (r *refs) partition(id string) (*partition, error) {
	return cached(r.parts, id, func(id string) (*partition, error) { return partitionOrNilTx(r.tx.Backend(), id) })
}

// image resolves an allocation's image id as an allocation does: an exact
// version, or the most recent image of a shorter one.
func (r *refs) image(id string) (*image, error) {
	return cached(r.images, id, func(id string) (*image, error) {
		img, err := latestImageTx(r.tx.Backend(), id)
		if absent(err) {
			return nil, nil
		}
		return img, err
	})
}

func (r *refs) layout(id string) (*filesystemLayout, error) {
	return cached(r.layouts, id, func(id string) (*filesystemLayout, error) {
		l, err := layouts.get(r.tx.Backend(), id)
		if absent(err) {
			return nil, nil
		}
		return l, err
	})
}

// events returns machine id's event container, nil when it has none.
func (r *refs) events(id string) (*machine.EventContainer, error) {
	c, err := r.tx.Machines.GetEvents(id)
	if absent(err) {
		return nil, nil
	}
	return c, err
}

// machine shapes m with its container, read in the transaction.
func (r *refs) machine(m *machine.Machine) (*machineResponse, error) {
	c, err := r.events(m.ID)
	if err != nil {
		return nil, err
	}
	return r.machineWith(m, c)
}

// machineWith shapes m with container c (nil: none).
func (r *refs) machineWith(m *machine.Machine, c *machine.EventContainer) (*machineResponse, error) {
	out := &machineResponse{
		ID: m.ID, Name: m.Name, Description: m.Description, RackID: m.RackID,
		Hardware: newMachineHardware(m.Hardware), BIOS: m.BIOS, State: m.State, LEDState: m.LEDState,
		Events: newMachineEvents(c), Tags: m.Tags, Created: m.Created, Changed: m.Changed,
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if c != nil {
		out.Liveliness = string(c.Liveliness)
	}
	var err error
	if out.Size, err = r.size(m.SizeID); err != nil {
		return nil, err
	}
	if out.Partition, err = r.partition(m.PartitionID); err != nil {
		return nil, err
	}
	if a := m.Allocation; a != nil {
		if out.Allocation, err = r.allocation(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *refs) allocation(a *machine.Allocation) (*machineAllocation, error) {
	out := &machineAllocation{
		Creator: a.Creator, Created: a.Created, Name: a.Name, Description: a.Description, Project: a.Project,
		Hostname: a.Hostname, SSHPubKeys: a.SSHPubKeys, UserData: a.UserData, Succeeded: a.Succeeded,
		Reinstall: a.Reinstall, BootInfo: a.BootInfo, Role: string(a.Role), AllocationUUID: a.AllocationUUID,
		Networks: make([]machineNetwork, len(a.Networks)), DNSServers: a.DNSServers, NTPServers: a.NTPServers,
	}
	if out.SSHPubKeys == nil {
		out.SSHPubKeys = []string{}
	}
	var err error
	if out.Image, err = r.image(a.ImageID); err != nil {
		return nil, err
	}
	if out.FilesystemLayout, err = r.layout(a.FilesystemLayoutID); err != nil {
		return nil, err
	}
	for i, n := range a.Networks {
		out.Networks[i] = machineNetwork{
			NetworkID: n.NetworkID, Prefixes: prefixStrings(n.Prefixes), IPs: mapAll(n.IPs, netip.Addr.String),
			DestinationPrefixes: prefixStrings(n.DestinationPrefixes), NetworkType: string(n.NetworkType),
			VRF: n.VRF, ASN: int64(n.ASN), NAT: n.NAT, Private: n.Private, Underlay: n.Underlay,
		}
	}
	if fr := a.FirewallRules; fr != nil && a.Role == machine.RoleFirewall {
		out.FirewallRules = newFirewallRulesJSON(fr)
	}
	return out, nil
}

// ipmi shapes m with its IPMI data.
func (r *refs) ipmi(m *machine.Machine) (*machineIPMIResponse, error) {
	resp, err := r.machine(m)
	if err != nil {
		return nil, err
	}
	i := m.IPMI
	return &machineIPMIResponse{machineResponse: resp, IPMI: machineIPMI{
		Address: i.Address, MAC: i.MacAddress, User: i.User, Password: i.Password, Interface: i.Interface,
		FRU:        machineFRU(i.FRU),
		BMCVersion: i.BMCVersion, PowerState: i.PowerState, PowerSupplies: []powerSupply{}, LastUpdated: i.LastUpdated,
	}}, nil
}

func newMachineHardware(hw machine.Hardware) machineHardware {
	out := machineHardware{
		Memory: hw.Memory, Disks: hw.Disks, CPUs: hw.CPUs, GPUs: hw.GPUs,
		Nics: make([]machineNic, len(hw.NICs)),
	}
	for _, c := range hw.CPUs {
		out.CPUCores += int(c.Cores)
	}
	if out.Disks == nil {
		out.Disks = []machine.BlockDevice{}
	}
	if out.CPUs == nil {
		out.CPUs = []machine.CPU{}
	}
	if out.GPUs == nil {
		out.GPUs = []machine.GPU{}
	}
	for i, n := range hw.NICs {
		nb := make([]machineNic, len(n.Neighbors))
		for j, x := range n.Neighbors {
			nb[j] = machineNic{MAC: x.MacAddress, Name: x.Name, Identifier: x.Identifier, Neighbors: []machineNic{}}
		}
		out.Nics[i] = machineNic{MAC: n.MacAddress, Name: n.Name, Identifier: n.Identifier, Neighbors: nb}
	}
	return out
}

func newMachineEvents(c *machine.EventContainer) machineEvents {
	out := machineEvents{Log: []machine.ProvisioningEvent{}}
	if c == nil {
		return out
	}
	out.Log = append(out.Log, c.Events[:min(len(c.Events), recentEvents)]...)
	if !c.LastEventTime.IsZero() {
		t := c.LastEventTime
		out.LastEventTime = &t
	}
	out.LastErrorEvent, out.CrashLoop, out.FailedMachineReclaim = c.LastErrorEvent, c.CrashLoop, c.FailedMachineReclaim
	return out
}

// machineID returns m's id.
func machineID(m *machine.Machine) string { return m.ID }

// shapeAll returns shape of every machine of ms, in order, or the first
// error.
func shapeAll[R any](ms []*machine.Machine, shape func(*machine.Machine) (R, error)) ([]R, error) {
	out := make([]R, 0, len(ms))
	for _, m := range ms {
		resp, err := shape(m)
		if err != nil {
			return nil, err
		}
		out = append(out, resp)
	}
	return out, nil
}
