package api

import (
	"net/http"
	"time"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/machine"
)

// machineFindRequest is metal-api's v1.MachineFindRequest (its datastore's
// MachineSearchQuery). Nil and empty fields were not given.
type machineFindRequest struct {
	ID          *string  `json:"id"`
	Name        *string  `json:"name"`
	PartitionID *string  `json:"partition_id"`
	SizeID      *string  `json:"sizeid"`
	RackID      *string  `json:"rackid"`
	Tags        []string `json:"tags"`

	AllocationName      *string `json:"allocation_name"`
	AllocationProject   *string `json:"allocation_project"`
	AllocationImageID   *string `json:"allocation_image_id"`
	AllocationHostname  *string `json:"allocation_hostname"`
	AllocationRole      *string `json:"allocation_role"`
	AllocationSucceeded *bool   `json:"allocation_succeeded"`

	NetworkIDs                 []string `json:"network_ids"`
	NetworkPrefixes            []string `json:"network_prefixes"`
	NetworkIPs                 []string `json:"network_ips"`
	NetworkDestinationPrefixes []string `json:"network_destination_prefixes"`
	NetworkVrfs                []int64  `json:"network_vrfs"`
	NetworkASNs                []int64  `json:"network_asns"`

	HardwareMemory *int64 `json:"hardware_memory"`

	NicsMacAddresses         []string `json:"nics_mac_addresses"`
	NicsNames                []string `json:"nics_names"`
	NicsVrfs                 []string `json:"nics_vrfs"`
	NicsNeighborMacAddresses []string `json:"nics_neighbor_mac_addresses"`
	NicsNeighborNames        []string `json:"nics_neighbor_names"`
	NicsNeighborVrfs         []string `json:"nics_neighbor_vrfs"`

	DiskNames []string `json:"disk_names"`
	DiskSizes []int64  `json:"disk_sizes"`

	// StateValue, when present, filters by state; "" is available.
	StateValue *string `json:"state_value"`

	IpmiAddress    *string `json:"ipmi_address"`
	IpmiMacAddress *string `json:"ipmi_mac_address"`
	IpmiUser       *string `json:"ipmi_user"`
	IpmiInterface  *string `json:"ipmi_interface"`

	FruChassisPartNumber   *string `json:"fru_chassis_part_number"`
	FruChassisPartSerial   *string `json:"fru_chassis_part_serial"`
	FruBoardMfg            *string `json:"fru_board_mfg"`
	FruBoardMfgSerial      *string `json:"fru_board_mfg_serial"`
	FruBoardPartNumber     *string `json:"fru_board_part_number"`
	FruProductManufacturer *string `json:"fru_product_manufacturer"`
	FruProductPartNumber   *string `json:"fru_product_part_number"`
	FruProductSerial       *string `json:"fru_product_serial"`
}

// machineFilters are the machine filters the server applies.
const machineFilters = "id, partition_id, sizeid, rackid, tags (all present), allocation_project, " +
	"allocation_role, allocation_hostname and state_value"

// filter returns the library's filter, or every filter that was given but
// cannot be applied and every value that does not parse.
func (req *machineFindRequest) filter() (machine.Filter, error) {
	c := &filters{kind: "machines", supported: machineFilters}
	f := machine.Filter{
		ID: deref(req.ID), PartitionID: deref(req.PartitionID), SizeID: deref(req.SizeID), RackID: deref(req.RackID),
		Tags: req.Tags, ProjectID: deref(req.AllocationProject), Hostname: deref(req.AllocationHostname),
	}
	if givenString(req.AllocationRole) {
		switch role := machine.Role(*req.AllocationRole); role {
		case machine.RoleMachine, machine.RoleFirewall:
			f.Role = role
		default:
			c.bad(invalid("allocation_role %s is unknown; use machine or firewall", quote(*req.AllocationRole)))
		}
	}
	if req.StateValue != nil {
		v, err := machine.ParseStateValue(*req.StateValue)
		if err != nil {
			c.bad(invalid("state_value %s is unknown; use \"\" (available), RESERVED or LOCKED", quote(*req.StateValue)))
		}
		f.State = &v
	}
	for _, u := range []struct {
		field, what string
		given       bool
	}{
		{"name", "name", givenString(req.Name)},
		{"allocation_name", "allocation name", givenString(req.AllocationName)},
		{"allocation_image_id", "image", givenString(req.AllocationImageID)},
		{"allocation_succeeded", "installation success", req.AllocationSucceeded != nil},
		{"network_ids", "network", len(req.NetworkIDs) > 0},
		{"network_prefixes", "network prefix", len(req.NetworkPrefixes) > 0},
		{"network_ips", "IP address", len(req.NetworkIPs) > 0},
		{"network_destination_prefixes", "destination prefix", len(req.NetworkDestinationPrefixes) > 0},
		{"network_vrfs", "VRF", len(req.NetworkVrfs) > 0},
		{"network_asns", "ASN", len(req.NetworkASNs) > 0},
		{"hardware_memory", "memory", req.HardwareMemory != nil},
		{"nics_mac_addresses", "NIC MAC address", len(req.NicsMacAddresses) > 0},
		{"nics_names", "NIC name", len(req.NicsNames) > 0},
		{"nics_vrfs", "NIC VRF", len(req.NicsVrfs) > 0},
		{"nics_neighbor_mac_addresses", "neighbour MAC address", len(req.NicsNeighborMacAddresses) > 0},
		{"nics_neighbor_names", "neighbour name", len(req.NicsNeighborNames) > 0},
		{"nics_neighbor_vrfs", "neighbour VRF", len(req.NicsNeighborVrfs) > 0},
		{"disk_names", "disk name", len(req.DiskNames) > 0},
		{"disk_sizes", "disk size", len(req.DiskSizes) > 0},
		{"ipmi_address", "BMC address", givenString(req.IpmiAddress)},
		{"ipmi_mac_address", "BMC MAC address", givenString(req.IpmiMacAddress)},
		{"ipmi_user", "BMC user", givenString(req.IpmiUser)},
		{"ipmi_interface", "BMC interface", givenString(req.IpmiInterface)},
		{"fru_chassis_part_number", "FRU data", givenString(req.FruChassisPartNumber)},
		{"fru_chassis_part_serial", "FRU data", givenString(req.FruChassisPartSerial)},
		{"fru_board_mfg", "FRU data", givenString(req.FruBoardMfg)},
		{"fru_board_mfg_serial", "FRU data", givenString(req.FruBoardMfgSerial)},
		{"fru_board_part_number", "FRU data", givenString(req.FruBoardPartNumber)},
		{"fru_product_manufacturer", "FRU data", givenString(req.FruProductManufacturer)},
		{"fru_product_part_number", "FRU data", givenString(req.FruProductPartNumber)},
		{"fru_product_serial", "FRU data", givenString(req.FruProductSerial)},
	} {
		if u.given {
			c.refuse(u.field, "the library does not search machines by "+u.what)
		}
	}
	return f, c.err()
}

func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) {
	s.answerMachines(w, r, machine.Filter{}, false)
}

func (s *Server) findMachines(w http.ResponseWriter, r *http.Request) {
	s.findMachinesAs(w, r, false)
}

func (s *Server) findIPMIMachines(w http.ResponseWriter, r *http.Request) {
	s.findMachinesAs(w, r, true)
}

func (s *Server) findMachinesAs(w http.ResponseWriter, r *http.Request, ipmi bool) {
	f, err := findAs(r, (*machineFindRequest).filter)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerMachines(w, r, f, ipmi)
}

// answerMachines answers the machines matching f (with their IPMI data
// when ipmi is set) and what they refer to, all read in one transaction.
func (s *Server) answerMachines(w http.ResponseWriter, r *http.Request, f machine.Filter, ipmi bool) {
	out, err := kitView(r.Context(), s.kit, func(tx *metalkit.Tx) (any, error) {
		ms, err := tx.Machines.List(f)
		if err != nil {
			return nil, err
		}
		if ipmi {
			return shapeAll(ms, newRefs(tx).ipmi)
		}
		return shapeAll(ms, newRefs(tx).machine)
	})
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) getMachine(w http.ResponseWriter, r *http.Request) {
	s.answerMachine(w, r, r.PathValue("id"), false)
}

func (s *Server) getIPMIMachine(w http.ResponseWriter, r *http.Request) {
	s.answerMachine(w, r, r.PathValue("id"), true)
}

// answerMachine answers machine id, read in one transaction.
func (s *Server) answerMachine(w http.ResponseWriter, r *http.Request, id string, ipmi bool) {
	out, err := kitView(r.Context(), s.kit, func(tx *metalkit.Tx) (any, error) {
		m, err := tx.Machines.Get(id)
		if err != nil {
			return nil, err
		}
		if ipmi {
			return newRefs(tx).ipmi(m)
		}
		return newRefs(tx).machine(m)
	})
	s.reply(w, r, http.StatusOK, out, err)
}

// machineIssue is metal-api's v1.MachineIssue.
type machineIssue struct {
	ID          string `json:"id"`
	Severity    string `json:"severity"`
	Description string `json:"description"`
	// RefURL is the issue's section in metal-stack's troubleshooting
	// guide.
	RefURL  string `json:"ref_url"`
	Details string `json:"details"`
}

// issueRefURL is where metal-stack's documentation explains the issues.
const issueRefURL = "https://docs.metal-stack.io/stable/installation/troubleshoot/#"

func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	out := mapAll(machine.IssueSpecs(), func(sp machine.Issue) machineIssue {
		return machineIssue{ID: string(sp.ID), Severity: string(sp.Severity), Description: sp.Description,
			RefURL: issueRefURL + string(sp.ID), Details: sp.Details}
	})
	writeJSON(w, http.StatusOK, out)
}

// machineIssuesRequest is metal-api's v1.MachineIssuesRequest: the
// machine filters and the issue selection. last_error_threshold is in
// nanoseconds.
type machineIssuesRequest struct {
	machineFindRequest
	Only               []string `json:"only"`
	Omit               []string `json:"omit"`
	Severity           *string  `json:"severity"`
	LastErrorThreshold *int64   `json:"last_error_threshold"`
}

// machineIssueResponse is metal-api's v1.MachineIssueResponse.
type machineIssueResponse struct {
	MachineID string   `json:"machineid"`
	Issues    []string `json:"issues"`
}

// evaluateIssues answers the issues of the machines the filter selects,
// machines and event containers read in one transaction; comparisons
// with other machines (shared BMC addresses, firewall ASNs) look at every
// machine.
func (s *Server) evaluateIssues(w http.ResponseWriter, r *http.Request) {
	var req machineIssuesRequest
	if err := decodeFind(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := req.filter()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := machine.IssueParams{Severity: machine.Severity(deref(req.Severity))}
	for _, o := range req.Only {
		p.Only = append(p.Only, machine.IssueType(o))
	}
	for _, o := range req.Omit {
		p.Omit = append(p.Omit, machine.IssueType(o))
	}
	if req.LastErrorThreshold != nil && *req.LastErrorThreshold > 0 {
		p.LastErrorThreshold = time.Duration(*req.LastErrorThreshold)
	}
	// The parameters are checked before any machine is read, so that a
	// bad one is refused even when no machine matches.
	if _, err := machine.FindIssues(nil, nil, time.Time{}, p); err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := kitView(r.Context(), s.kit, func(tx *metalkit.Tx) ([]*machineIssueResponse, error) {
		out := []*machineIssueResponse{}
		ms, err := tx.Machines.List(f)
		if err != nil || len(ms) == 0 {
			return out, err
		}
		p.MachineIDs = mapAll(ms, machineID)
		found, err := tx.Machines.Issues(p)
		if err != nil {
			return nil, err
		}
		for _, mi := range found {
			out = append(out, &machineIssueResponse{MachineID: mi.MachineID,
				Issues: mapAll(mi.Issues, func(is machine.Issue) string { return string(is.ID) })})
		}
		return out, nil
	})
	s.reply(w, r, http.StatusOK, out, err)
}
