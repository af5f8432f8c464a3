package api

import (
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/network"
)

// ipResponse is metal-api's v1.IPResponse.
type ipResponse struct {
	IPAddress      string    `json:"ipaddress"`
	AllocationUUID string    `json:"allocationuuid"`
	NetworkID      string    `json:"networkid"`
	ProjectID      string    `json:"projectid"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	Type           string    `json:"type"`
	Tags           []string  `json:"tags"`
	Created        time.Time `json:"created"`
	Changed        time.Time `json:"changed"`
}

func newIPResponse(ip *network.IP) *ipResponse {
	tags := ip.Tags
	if tags == nil {
		tags = []string{}
	}
	return &ipResponse{
		IPAddress:      ip.IPAddress.String(),
		AllocationUUID: ip.AllocationUUID,
		NetworkID:      ip.NetworkID,
		ProjectID:      ip.ProjectID,
		Name:           ip.Name,
		Description:    ip.Description,
		Type:           string(ip.Type),
		Tags:           tags,
		Created:        ip.Created,
		Changed:        ip.Changed,
	}
}

func newIPResponses(ips []*network.IP) []*ipResponse { return mapAll(ips, newIPResponse) }

// parseAddr parses the address that field gives.
func parseAddr(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, invalid("%s %s is not an IP address", field, quote(s))
	}
	return a, nil
}

// ipAllocateRequest is metal-api's v1.IPAllocateRequest. Nil fields were
// not given: no type is ephemeral, no family is the network's only one,
// else IPv4.
type ipAllocateRequest struct {
	Name          *string  `json:"name"`
	Description   *string  `json:"description"`
	NetworkID     *string  `json:"networkid"`
	ProjectID     *string  `json:"projectid"`
	Type          *string  `json:"type"`
	Tags          []string `json:"tags"`
	MachineID     *string  `json:"machineid"`
	AddressFamily *string  `json:"addressfamily"`
}

func (req *ipAllocateRequest) library(specific string) (network.AllocateIPRequest, error) {
	out := network.AllocateIPRequest{
		NetworkID:     deref(req.NetworkID),
		ProjectID:     deref(req.ProjectID),
		Name:          deref(req.Name),
		Description:   deref(req.Description),
		Type:          network.IPType(deref(req.Type)),
		Tags:          req.Tags,
		MachineID:     deref(req.MachineID),
		AddressFamily: network.AddressFamily(deref(req.AddressFamily)),
	}
	var errs []error
	// metal-api checks these two first.
	if out.NetworkID == "" {
		errs = append(errs, invalid("networkid is required"))
	}
	if out.ProjectID == "" {
		errs = append(errs, invalid("projectid is required"))
	}
	if specific != "" {
		a, err := parseAddr("the address in the path", specific)
		errs = append(errs, err)
		out.Address = a
	}
	return out, joinInvalid(errs)
}

// ipUpdateRequest is metal-api's v1.IPUpdateRequest. Nil fields stay as
// they are; tags, when given, replace the tags.
type ipUpdateRequest struct {
	IPAddress   *string  `json:"ipaddress"`
	Name        *string  `json:"name"`
	Description *string  `json:"description"`
	Type        *string  `json:"type"`
	Tags        []string `json:"tags"`
}

func (req *ipUpdateRequest) library() (network.UpdateIPRequest, error) {
	out := network.UpdateIPRequest{Name: req.Name, Description: req.Description, Tags: req.Tags}
	if req.Type != nil {
		t := network.IPType(*req.Type)
		out.Type = &t
	}
	if !givenString(req.IPAddress) {
		return out, invalid("ipaddress is required: it names the IP to update")
	}
	a, err := parseAddr("ipaddress", *req.IPAddress)
	out.IPAddress = a
	return out, err
}

// ipFindRequest is metal-api's v1.IPFindRequest.
type ipFindRequest struct {
	IPAddress      *string  `json:"ipaddress"`
	AllocationUUID *string  `json:"allocationuuid"`
	NetworkPrefix  *string  `json:"networkprefix"`
	NetworkID      *string  `json:"networkid"`
	ProjectID      *string  `json:"projectid"`
	Name           *string  `json:"name"`
	MachineID      *string  `json:"machineid"`
	Type           *string  `json:"type"`
	Tags           []string `json:"tags"`
	AddressFamily  *string  `json:"addressfamily"`
}

// ipFilters are the IP filters the server applies.
const ipFilters = "ipaddress, allocationuuid, networkprefix, networkid, projectid, name, machineid, type, " +
	"tags (all of them) and addressfamily"

// filter returns the library's filter and the address to look up, if
// one is given.
func (req *ipFindRequest) filter() (network.IPFilter, netip.Addr, error) {
	c := &filters{kind: "IPs", supported: ipFilters}
	f := network.IPFilter{
		NetworkID:      deref(req.NetworkID),
		ProjectID:      deref(req.ProjectID),
		MachineID:      deref(req.MachineID),
		Type:           network.IPType(deref(req.Type)),
		Tags:           req.Tags,
		AddressFamily:  network.AddressFamily(deref(req.AddressFamily)),
		AllocationUUID: deref(req.AllocationUUID),
		Name:           deref(req.Name),
	}
	if givenString(req.NetworkPrefix) {
		p, err := netip.ParsePrefix(*req.NetworkPrefix)
		switch {
		case err != nil:
			c.bad(invalid("networkprefix %s is not a prefix: %v", quote(*req.NetworkPrefix), err))
		case p != p.Masked():
			c.bad(invalid("networkprefix %s has host bits set; want %s", quote(*req.NetworkPrefix), p.Masked()))
		default:
			f.ParentPrefix = p
		}
	}
	if f.AddressFamily != "" {
		fam, err := network.ParseAddressFamily(string(f.AddressFamily))
		c.bad(err)
		f.AddressFamily = fam
	}
	var addr netip.Addr
	if givenString(req.IPAddress) {
		a, err := parseAddr("ipaddress", *req.IPAddress)
		c.bad(err)
		addr = a
	}
	return f, addr, c.err()
}

func (s *Server) listIPs(w http.ResponseWriter, r *http.Request) {
	ips, err := s.kit.Networks.ListIPs(r.Context(), network.IPFilter{})
	replyWith(s, w, r, http.StatusOK, ips, err, newIPResponses)
}

// pathAddr parses the address in the path of r.
func pathAddr(r *http.Request) (netip.Addr, error) {
	return parseAddr("the address in the path", r.PathValue("id"))
}

func (s *Server) getIP(w http.ResponseWriter, r *http.Request) {
	a, err := pathAddr(r)
	var ip *network.IP
	if err == nil {
		ip, err = s.kit.Networks.GetIP(r.Context(), a)
	}
	replyWith(s, w, r, http.StatusOK, ip, err, newIPResponse)
}

// findIPs answers the IPs matching the request; with an ipaddress it
// reads that one IP and applies the other filters to it.
func (s *Server) findIPs(w http.ResponseWriter, r *http.Request) {
	var req ipFindRequest
	if err := decodeFind(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	f, addr, err := req.filter()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ips []*network.IP
	if addr.IsValid() {
		var ip *network.IP
		ip, err = s.kit.Networks.GetIP(r.Context(), addr)
		switch {
		case errors.Is(err, errdefs.ErrNotFound):
			err = nil
		case err == nil && f.Match(ip):
			ips = append(ips, ip)
		}
	} else {
		ips, err = s.kit.Networks.ListIPs(r.Context(), f)
	}
	replyWith(s, w, r, http.StatusOK, ips, err, newIPResponses)
}

// allocateIP allocates an IP, or the address in the path of
// POST /v1/ip/allocate/{ip}.
func (s *Server) allocateIP(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAs(r, func(body *ipAllocateRequest) (network.AllocateIPRequest, error) {
		return body.library(r.PathValue("ip"))
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ip, err := s.kit.Networks.AllocateIP(r.Context(), req)
	s.metrics.Allocation("ip", allocationResult(err))
	replyWith(s, w, r, http.StatusCreated, ip, err, newIPResponse)
}

func (s *Server) updateIP(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAs(r, (*ipUpdateRequest).library)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ip, err := s.kit.Networks.UpdateIP(r.Context(), req)
	replyWith(s, w, r, http.StatusOK, ip, err, newIPResponse)
}

func (s *Server) freeIP(w http.ResponseWriter, r *http.Request) {
	a, err := pathAddr(r)
	var ip *network.IP
	if err == nil {
		ip, err = s.kit.Networks.FreeIP(r.Context(), a)
	}
	replyWith(s, w, r, http.StatusOK, ip, err, newIPResponse)
}
