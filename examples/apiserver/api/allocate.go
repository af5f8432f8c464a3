package api

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/machine"
)

// machineAllocateRequest is metal-api's v1.MachineAllocateRequest and,
// with firewall_rules, its v1.FirewallCreateRequest. Nil fields were not
// given.
type machineAllocateRequest struct {
	UUID               *string                `json:"uuid"`
	Name               *string                `json:"name"`
	Description        *string                `json:"description"`
	Hostname           *string                `json:"hostname"`
	ProjectID          *string                `json:"projectid"`
	PartitionID        *string                `json:"partitionid"`
	SizeID             *string                `json:"sizeid"`
	ImageID            *string                `json:"imageid"`
	FilesystemLayoutID *string                `json:"filesystemlayoutid"`
	SSHPubKeys         []string               `json:"ssh_pub_keys"`
	UserData           *string                `json:"user_data"`
	Tags               []string               `json:"tags"`
	Networks           []*allocationNetworkIn `json:"networks"`
	IPs                []string               `json:"ips"`
	PlacementTags      []string               `json:"placement_tags"`
	DNSServers         []*dnsServerIn         `json:"dns_servers"`
	NTPServers         []*ntpServerIn         `json:"ntp_servers"`
	FirewallRules      *firewallRulesJSON     `json:"firewall_rules"`
}

// allocationNetworkIn is metal-api's v1.MachineAllocationNetwork.
type allocationNetworkIn struct {
	NetworkID   *string `json:"networkid"`
	AutoAcquire *bool   `json:"autoacquire"`
}

// library returns the library's request for role, and the problems the
// server finds before the library's own checks.
func (body *machineAllocateRequest) library(role machine.Role) (machine.AllocateRequest, []error) {
	req := machine.AllocateRequest{
		UUID: deref(body.UUID), Name: deref(body.Name), Description: deref(body.Description), Hostname: deref(body.Hostname),
		ProjectID: deref(body.ProjectID), PartitionID: deref(body.PartitionID), SizeID: deref(body.SizeID),
		ImageID: deref(body.ImageID), FilesystemLayoutID: deref(body.FilesystemLayoutID), SSHPubKeys: body.SSHPubKeys,
		UserData: deref(body.UserData), Tags: body.Tags, IPs: body.IPs, PlacementTags: body.PlacementTags, Role: role,
	}
	var errs, e []error
	if req.ImageID == "" {
		errs = append(errs, invalid("imageid is required"))
	}
	for i, n := range body.Networks {
		if n == nil {
			errs = append(errs, invalid("networks[%d] is null", i))
			continue
		}
		req.Networks = append(req.Networks, machine.AllocationNetwork{NetworkID: deref(n.NetworkID), AutoAcquire: n.AutoAcquire})
	}
	req.DNSServers, e = parseDNSServers(body.DNSServers)
	errs = append(errs, e...)
	req.NTPServers, e = parseNTPServers(body.NTPServers)
	errs = append(errs, e...)
	req.FirewallRules, e = body.FirewallRules.library()
	errs = append(errs, e...)
	return req, errs
}

func (s *Server) allocateMachine(w http.ResponseWriter, r *http.Request) {
	s.allocate(w, r, machine.RoleMachine)
}

func (s *Server) allocateFirewall(w http.ResponseWriter, r *http.Request) {
	s.allocate(w, r, machine.RoleFirewall)
}

// allocate allocates a machine or firewall: every problem of the request
// is reported together before anything is looked up; then the image id is
// resolved as metal-api resolves it (the allocation keeps the image's full
// id), the filesystem layout must exist, and a request without DNS or NTP
// servers gets the partition's. The library commits the allocation in one
// transaction. Every attempt is counted in the allocation metrics.
func (s *Server) allocate(w http.ResponseWriter, r *http.Request, role machine.Role) {
	var body machineAllocateRequest
	if err := decodeBody(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	req, errs := body.library(role)
	_, err := machine.ValidateAllocateRequest(req, callerOf(r.Context()))
	err = joinInvalid(append(errs, err))
	if err == nil {
		err = s.prepareAllocation(r.Context(), &req)
	}
	var m *machine.Machine
	if err == nil {
		m, err = s.kit.Machines.Allocate(r.Context(), req)
	}
	s.metrics.Allocation(string(role), allocationResult(err))
	s.changedMachine(w, r, http.StatusOK, m, err)
}

// prepareAllocation resolves the request's image id to the image's full
// id, checks that its filesystem layout exists, and gives a request
// without DNS or NTP servers those of the partition (the machine's, for a
// request by uuid), all read in one transaction. A partition or machine
// that does not exist is left to the library to report.
func (s *Server) prepareAllocation(ctx context.Context, req *machine.AllocateRequest) error {
	return s.kit.View(ctx, func(tx *metalkit.Tx) error {
		img, err := latestImageTx(tx.Backend(), req.ImageID)
		if err != nil {
			return fmt.Errorf("imageid: %w", err)
		}
		req.ImageID = img.ID
		if id := req.FilesystemLayoutID; id != "" {
			if _, err := layouts.get(tx.Backend(), id); err != nil {
				return fmt.Errorf("filesystemlayoutid: %w", err)
			}
		}
		if len(req.DNSServers) > 0 && len(req.NTPServers) > 0 {
			return nil
		}
		partitionID := req.PartitionID
		if req.UUID != "" {
			m, err := tx.Machines.Get(req.UUID)
			if absent(err) {
				return nil
			}
			if err != nil {
				return err
			}
			partitionID = m.PartitionID
		}
		p, err := getPartitionTx(tx.Backend(), partitionID)
		if absent(err) || partitionID == "" {
			return nil
		}
		if err != nil {
			return err
		}
		if len(req.DNSServers) == 0 {
			for _, d := range p.DNSServers {
				if a, err := netip.ParseAddr(d.IP); err == nil {
					req.DNSServers = append(req.DNSServers, machine.DNSServer{IP: a})
				}
			}
		}
		if len(req.NTPServers) == 0 {
			for _, n := range p.NTPServers {
				req.NTPServers = append(req.NTPServers, machine.NTPServer(n))
			}
		}
		return nil
	})
}

// changedMachine answers the machine a change returned with status, its
// references read in a transaction of their own, or err.
func (s *Server) changedMachine(w http.ResponseWriter, r *http.Request, status int, m *machine.Machine, err error) {
	var out *machineResponse
	if err == nil {
		out, err = kitView(r.Context(), s.kit, func(tx *metalkit.Tx) (*machineResponse, error) { return newRefs(tx).machine(m) })
	}
	s.reply(w, r, status, out, err)
}

func (s *Server) freeMachine(w http.ResponseWriter, r *http.Request) {
	m, err := s.kit.Machines.Free(r.Context(), r.PathValue("id"))
	s.changedMachine(w, r, http.StatusOK, m, err)
}

func (s *Server) deleteMachine(w http.ResponseWriter, r *http.Request) {
	m, err := s.kit.Machines.Delete(r.Context(), r.PathValue("id"))
	s.changedMachine(w, r, http.StatusOK, m, err)
}

// machineStateRequest is metal-api's v1.MachineState as a request; only
// value and description are read.
type machineStateRequest struct {
	Value       *string `json:"value"`
	Description *string `json:"description"`
}

// setMachineState sets a machine's state; the caller is its issuer.
func (s *Server) setMachineState(w http.ResponseWriter, r *http.Request) {
	var body machineStateRequest
	if err := decodeBody(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Value == nil {
		s.fail(w, r, invalid(`value is required: RESERVED, LOCKED or "" (available)`))
		return
	}
	m, err := s.kit.Machines.SetState(r.Context(), r.PathValue("id"), *body.Value, deref(body.Description))
	s.changedMachine(w, r, http.StatusOK, m, err)
}

// machineReinstallRequest is metal-api's v1.MachineReinstallRequest; only
// imageid is read.
type machineReinstallRequest struct {
	ImageID *string `json:"imageid"`
}

// reinstallMachine marks an allocated machine for a reinstall with an
// image, its id resolved as an allocation's.
func (s *Server) reinstallMachine(w http.ResponseWriter, r *http.Request) {
	var body machineReinstallRequest
	if err := decodeBody(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if !givenString(body.ImageID) {
		s.fail(w, r, invalid("imageid is required"))
		return
	}
	img, err := viewValue(r.Context(), s.cat, func(tx backends.Tx) (*image, error) { return latestImageTx(tx, *body.ImageID) })
	if err != nil {
		s.fail(w, r, fmt.Errorf("imageid: %w", err))
		return
	}
	m, err := s.kit.Machines.Reinstall(r.Context(), r.PathValue("id"), img.ID)
	s.changedMachine(w, r, http.StatusOK, m, err)
}

// setLED stores the chassis identify LED state the route names, with the
// description of the query; no command reaches the machine.
func (s *Server) setLED(value machine.LEDValue) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m, err := s.kit.Machines.SetLED(r.Context(), r.PathValue("id"), string(value), r.URL.Query().Get("description"))
		s.changedMachine(w, r, http.StatusOK, m, err)
	}
}

// notSupported answers a machine command the server cannot carry out: it
// sends no commands to machines or their BMCs.
func (s *Server) notSupported(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeErrorStatus(w, http.StatusNotImplemented, fmt.Sprintf(
			"%s of machine %s is not supported by this server: it sends no commands to machines or their BMCs", what, quote(r.PathValue("id"))))
	}
}

// machineUpdateRequest is metal-api's v1.MachineUpdateRequest.
type machineUpdateRequest struct {
	ID          *string  `json:"id"`
	Description *string  `json:"description"`
	Tags        []string `json:"tags"`
	SSHPubKeys  []string `json:"ssh_pub_keys"`
}

// updateMachine changes an allocated machine's description, tags (when
// given) and SSH keys (when given).
func (s *Server) updateMachine(w http.ResponseWriter, r *http.Request) {
	var body machineUpdateRequest
	if err := decodeBody(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if !givenString(body.ID) {
		s.fail(w, r, invalid("id is required: it names the machine to update"))
		return
	}
	m, err := s.kit.Machines.Update(r.Context(), machine.UpdateRequest{ID: *body.ID, Description: body.Description, Tags: body.Tags, SSHPubKeys: body.SSHPubKeys})
	s.changedMachine(w, r, http.StatusOK, m, err)
}

// consolePasswordRequest is metal-api's v1.MachineConsolePasswordRequest.
type consolePasswordRequest struct {
	ID     *string `json:"id"`
	Reason *string `json:"reason"`
}

// consolePasswordResponse is metal-api's v1.MachineConsolePasswordResponse.
type consolePasswordResponse struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	ConsolePassword string `json:"console_password"`
}

// getConsolePassword answers an allocated machine's console password. The
// request must give a reason, which is logged with the caller.
func (s *Server) getConsolePassword(w http.ResponseWriter, r *http.Request) {
	var body consolePasswordRequest
	if err := decodeBody(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []error
	if !givenString(body.ID) {
		errs = append(errs, invalid("id is required: it names the machine"))
	}
	if !givenString(body.Reason) {
		errs = append(errs, invalid("reason is required: say why the console password is needed"))
	}
	if err := joinInvalid(errs); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.kit.Machines.Get(r.Context(), *body.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !m.Allocated() {
		s.fail(w, r, conflict("machine %s is not allocated, so it has no console password", quote(m.ID)))
		return
	}
	s.log.Info("console password requested", "machine", m.ID, "user", callerOf(r.Context()), "reason", *body.Reason)
	writeJSON(w, http.StatusOK, &consolePasswordResponse{ID: m.ID, Name: m.Name, Description: m.Description, ConsolePassword: m.Allocation.ConsolePassword})
}
