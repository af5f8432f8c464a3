package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"time"

	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/network"
)

// networkResponse is metal-api's v1.NetworkResponse.
type networkResponse struct {
	ID                         string             `json:"id"`
	Name                       string             `json:"name"`
	Description                string             `json:"description"`
	PartitionID                string             `json:"partitionid"`
	ProjectID                  string             `json:"projectid"`
	Labels                     map[string]string  `json:"labels"`
	Shared                     bool               `json:"shared"`
	Prefixes                   []string           `json:"prefixes"`
	DestinationPrefixes        []string           `json:"destinationprefixes"`
	DefaultChildPrefixLength   map[string]int     `json:"defaultchildprefixlength,omitempty"`
	NAT                        bool               `json:"nat"`
	PrivateSuper               bool               `json:"privatesuper"`
	Underlay                   bool               `json:"underlay"`
	VRF                        uint32             `json:"vrf"`
	ParentNetworkID            *string            `json:"parentnetworkid"`
	AdditionalAnnouncableCIDRs []string           `json:"additionalAnnouncableCIDRs,omitempty"`
	Consumption                networkConsumption `json:"consumption"`
	// Usage is the IPv4 consumption (zero without IPv4), which metal-api
	// still answers beside consumption.
	Usage   networkUsage `json:"usage"`
	Created time.Time    `json:"created"`
	Changed time.Time    `json:"changed"`
}

// networkConsumption is metal-api's v1.NetworkConsumption: null for a
// family the network lacks.
type networkConsumption struct {
	IPv4 *networkUsage `json:"ipv4"`
	IPv6 *networkUsage `json:"ipv6"`
}

// networkUsage is metal-api's v1.NetworkUsage: the library's compatible
// figures, capped at network.ConsumptionCap.
type networkUsage struct {
	AvailableIPs      uint64 `json:"available_ips"`
	UsedIPs           uint64 `json:"used_ips"`
	AvailablePrefixes uint64 `json:"available_prefixes"`
	UsedPrefixes      uint64 `json:"used_prefixes"`
}

func usageOf(c *network.FamilyConsumption) *networkUsage {
	if c == nil {
		return nil
	}
	return &networkUsage{AvailableIPs: c.AvailableIPs, UsedIPs: c.UsedIPs, AvailablePrefixes: c.AvailablePrefixes, UsedPrefixes: c.UsedPrefixes}
}

// newNetworkResponse shapes a network as metal-api answers it. A network
// without consumption (one just freed or deleted) answers an empty one.
func newNetworkResponse(n *network.Network) *networkResponse {
	out := &networkResponse{
		ID:                         n.ID,
		Name:                       n.Name,
		Description:                n.Description,
		PartitionID:                n.PartitionID,
		ProjectID:                  n.ProjectID,
		Labels:                     n.Labels,
		Shared:                     n.Shared,
		Prefixes:                   prefixStrings(n.Prefixes),
		DestinationPrefixes:        prefixStrings(n.DestinationPrefixes),
		NAT:                        n.NAT,
		PrivateSuper:               n.PrivateSuper,
		Underlay:                   n.Underlay,
		VRF:                        n.VRF,
		AdditionalAnnouncableCIDRs: prefixStrings(n.AdditionalAnnouncableCIDRs),
		Created:                    n.Created,
		Changed:                    n.Changed,
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if len(n.DefaultChildPrefixLength) > 0 {
		out.DefaultChildPrefixLength = map[string]int{}
		for f, bits := range n.DefaultChildPrefixLength {
			out.DefaultChildPrefixLength[string(f)] = bits
		}
	}
	if n.ParentNetworkID != "" {
		p := n.ParentNetworkID
		out.ParentNetworkID = &p
	}
	if c := n.Consumption; c != nil {
		out.Consumption = networkConsumption{IPv4: usageOf(c.IPv4), IPv6: usageOf(c.IPv6)}
		if c.IPv4 != nil {
			out.Usage = *usageOf(c.IPv4)
		}
	}
	return out
}

func newNetworkResponses(ns []*network.Network) []*networkResponse {
	return mapAll(ns, newNetworkResponse)
}

func prefixStrings(ps []netip.Prefix) []string { return mapAll(ps, netip.Prefix.String) }

// parsePrefixes parses the prefixes of field; nil stays nil (not given),
// an empty list stays empty. Syntax errors, each naming field[i], are
// added to errs; the library checks the rest (host bits, zones).
func parsePrefixes(field string, ss []string, errs *[]error) []netip.Prefix {
	if ss == nil {
		return nil
	}
	out := make([]netip.Prefix, 0, len(ss))
	for i, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			*errs = append(*errs, invalid("%s[%d] %s is not a prefix: %v", field, i, quote(s), err))
			continue
		}
		out = append(out, p)
	}
	return out
}

// childLengths converts a map of family name to bits, adding the bits
// that are no prefix length to errs; the library checks the names
// (case-insensitively) and the bits.
func childLengths(field string, m map[string]int64, errs *[]error) network.ChildLengths {
	if m == nil {
		return nil
	}
	out := network.ChildLengths{}
	for f, bits := range m {
		if bits < math.MinInt32 || bits > math.MaxInt32 {
			*errs = append(*errs, invalid("%s[%s] = %d is no prefix length", field, quote(f), bits))
			continue
		}
		out[network.AddressFamily(f)] = int(bits)
	}
	return out
}

// parseNetworkPrefixes parses the prefix members a network is created and
// updated with: prefixes, destinationprefixes, additionalAnnouncableCIDRs
// and defaultchildprefixlength, in that order, adding every problem to
// errs.
func parseNetworkPrefixes(prefixes, destinations, cidrs []string, lengths map[string]int64, errs *[]error) ([]netip.Prefix, []netip.Prefix, []netip.Prefix, network.ChildLengths) {
	return parsePrefixes("prefixes", prefixes, errs), parsePrefixes("destinationprefixes", destinations, errs),
		parsePrefixes("additionalAnnouncableCIDRs", cidrs, errs), childLengths("defaultchildprefixlength", lengths, errs)
}

// networkCreateRequest is metal-api's v1.NetworkCreateRequest. Nil fields
// were not given.
type networkCreateRequest struct {
	ID                         *string           `json:"id"`
	Name                       *string           `json:"name"`
	Description                *string           `json:"description"`
	PartitionID                *string           `json:"partitionid"`
	ProjectID                  *string           `json:"projectid"`
	Labels                     map[string]string `json:"labels"`
	Shared                     *bool             `json:"shared"`
	Prefixes                   []string          `json:"prefixes"`
	DestinationPrefixes        []string          `json:"destinationprefixes"`
	DefaultChildPrefixLength   map[string]int64  `json:"defaultchildprefixlength"`
	NAT                        *bool             `json:"nat"`
	PrivateSuper               *bool             `json:"privatesuper"`
	Underlay                   *bool             `json:"underlay"`
	VRF                        *int64            `json:"vrf"`
	VRFShared                  *bool             `json:"vrfshared"`
	ParentNetworkID            *string           `json:"parentnetworkid"`
	AdditionalAnnouncableCIDRs []string          `json:"additionalAnnouncableCIDRs"`
}

// library returns the library's request, or every problem the server
// finds before the library's own checks.
func (req *networkCreateRequest) library() (network.CreateRequest, error) {
	out := network.CreateRequest{
		ID:           deref(req.ID),
		Name:         deref(req.Name),
		Description:  deref(req.Description),
		PartitionID:  deref(req.PartitionID),
		ProjectID:    deref(req.ProjectID),
		Labels:       req.Labels,
		Shared:       deref(req.Shared),
		NAT:          deref(req.NAT),
		PrivateSuper: deref(req.PrivateSuper),
		Underlay:     deref(req.Underlay),
		VRFShared:    deref(req.VRFShared),
	}
	var errs []error
	out.Prefixes, out.DestinationPrefixes, out.AdditionalAnnouncableCIDRs, out.DefaultChildPrefixLength = parseNetworkPrefixes(
		req.Prefixes, req.DestinationPrefixes, req.AdditionalAnnouncableCIDRs, req.DefaultChildPrefixLength, &errs)
	if req.VRF != nil {
		if *req.VRF < 0 || *req.VRF > math.MaxUint32 {
			errs = append(errs, invalid("vrf %d: must lie in %d..%d", *req.VRF, network.MinVRF, network.MaxVRF))
		} else {
			out.VRF = uint32(*req.VRF)
		}
	}
	if givenString(req.ParentNetworkID) {
		errs = append(errs, invalid("parentnetworkid %s: a created network has no parent; allocate a child network with POST /v1/network/allocate", quote(*req.ParentNetworkID)))
	}
	return out, joinInvalid(errs)
}

// networkUpdateRequest is metal-api's v1.NetworkUpdateRequest. Nil fields
// (null or absent) are not given and stay as they are.
type networkUpdateRequest struct {
	ID                         *string           `json:"id"`
	Name                       *string           `json:"name"`
	Description                *string           `json:"description"`
	Labels                     map[string]string `json:"labels"`
	Shared                     *bool             `json:"shared"`
	Prefixes                   []string          `json:"prefixes"`
	DestinationPrefixes        []string          `json:"destinationprefixes"`
	DefaultChildPrefixLength   map[string]int64  `json:"defaultchildprefixlength"`
	AdditionalAnnouncableCIDRs []string          `json:"additionalAnnouncableCIDRs"`
}

func (req *networkUpdateRequest) library(force bool) (network.UpdateRequest, error) {
	out := network.UpdateRequest{
		ID:          deref(req.ID),
		Name:        req.Name,
		Description: req.Description,
		Labels:      req.Labels,
		Shared:      req.Shared,
		Force:       force,
	}
	var errs []error
	if out.ID == "" {
		errs = append(errs, invalid("id is required: it names the network to update"))
	}
	out.Prefixes, out.DestinationPrefixes, out.AdditionalAnnouncableCIDRs, out.DefaultChildPrefixLength = parseNetworkPrefixes(
		req.Prefixes, req.DestinationPrefixes, req.AdditionalAnnouncableCIDRs, req.DefaultChildPrefixLength, &errs)
	return out, joinInvalid(errs)
}

// networkAllocateRequest is metal-api's v1.NetworkAllocateRequest.
type networkAllocateRequest struct {
	Name                *string           `json:"name"`
	Description         *string           `json:"description"`
	PartitionID         *string           `json:"partitionid"`
	ProjectID           *string           `json:"projectid"`
	Labels              map[string]string `json:"labels"`
	Shared              *bool             `json:"shared"`
	NAT                 *bool             `json:"nat"`
	DestinationPrefixes []string          `json:"destinationprefixes"`
	Length              map[string]int64  `json:"length"`
	AddressFamily       *string           `json:"addressfamily"`
}

func (req *networkAllocateRequest) library() (network.AllocateRequest, error) {
	out := network.AllocateRequest{
		Name:          deref(req.Name),
		Description:   deref(req.Description),
		PartitionID:   deref(req.PartitionID),
		ProjectID:     deref(req.ProjectID),
		Labels:        req.Labels,
		Shared:        deref(req.Shared),
		NAT:           deref(req.NAT),
		AddressFamily: network.AddressFamily(deref(req.AddressFamily)),
	}
	var errs []error
	// metal-api checks these two first.
	if out.ProjectID == "" {
		errs = append(errs, invalid("projectid is required"))
	}
	if out.PartitionID == "" {
		errs = append(errs, invalid("partitionid is required"))
	}
	out.DestinationPrefixes = parsePrefixes("destinationprefixes", req.DestinationPrefixes, &errs)
	out.Length = childLengths("length", req.Length, &errs)
	return out, joinInvalid(errs)
}

// networkFindRequest is metal-api's v1.NetworkFindRequest.
type networkFindRequest struct {
	ID                  *string           `json:"id"`
	Name                *string           `json:"name"`
	PartitionID         *string           `json:"partitionid"`
	ProjectID           *string           `json:"projectid"`
	Prefixes            []string          `json:"prefixes"`
	DestinationPrefixes []string          `json:"destinationprefixes"`
	NAT                 *bool             `json:"nat"`
	PrivateSuper        *bool             `json:"privatesuper"`
	Underlay            *bool             `json:"underlay"`
	VRF                 *int64            `json:"vrf"`
	ParentNetworkID     *string           `json:"parentnetworkid"`
	Labels              map[string]string `json:"labels"`
	AddressFamily       *string           `json:"addressfamily"`
}

// networkFilters are the network filters the server applies.
const networkFilters = "id, name, partitionid, projectid, parentnetworkid, labels, addressfamily, nat, vrf (not 0), " +
	"prefixes (one prefix), privatesuper (true) and underlay (true)"

// filter returns the library's filter. A find that can match nothing
// (privatesuper and underlay both true: a network has one kind) gives
// ok false.
func (req *networkFindRequest) filter() (f network.Filter, ok bool, err error) {
	c := &filters{kind: "networks", supported: networkFilters}
	f = network.Filter{
		ID:              deref(req.ID),
		Name:            deref(req.Name),
		PartitionID:     deref(req.PartitionID),
		ProjectID:       deref(req.ProjectID),
		ParentNetworkID: deref(req.ParentNetworkID),
		AddressFamily:   network.AddressFamily(deref(req.AddressFamily)),
		Labels:          req.Labels,
		NAT:             req.NAT,
	}
	if len(req.DestinationPrefixes) > 0 {
		c.refuse("destinationprefixes", "the library does not search networks by destination prefix")
	}
	switch {
	case req.VRF == nil:
	case *req.VRF == 0:
		c.refuse("vrf 0", "the library searches networks by a VRF, not by the lack of one")
	case *req.VRF < network.MinVRF || *req.VRF > network.MaxVRF:
		c.bad(invalid("vrf %d: must lie in %d..%d", *req.VRF, network.MinVRF, network.MaxVRF))
	default:
		f.VRF = uint32(*req.VRF)
	}
	ok = true
	for _, kind := range []struct {
		field string
		given *bool
		kind  network.Kind
	}{{"privatesuper", req.PrivateSuper, network.KindSuper}, {"underlay", req.Underlay, network.KindUnderlay}} {
		switch {
		case kind.given == nil:
		case !*kind.given:
			c.refuse(kind.field+" false", "the library searches networks by kind, not by the lack of one")
		case f.Kind != "":
			ok = false
		default:
			f.Kind = kind.kind
		}
	}
	if len(req.Prefixes) > 1 {
		c.refuse("prefixes", fmt.Sprintf("the library searches networks by one prefix; %d were given", len(req.Prefixes)))
	} else if ps := parsePrefixes("prefixes", req.Prefixes, &c.errs); len(ps) == 1 {
		f.Prefix = ps[0]
	}
	if f.AddressFamily != "" {
		fam, err := network.ParseAddressFamily(string(f.AddressFamily))
		c.bad(err)
		f.AddressFamily = fam
	}
	return f, ok, c.err()
}

// allocationResult names the result of an allocation for the metrics:
// "exhausted" for any error of class exhausted (no address, prefix or
// machine left, a quota reached).
func allocationResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errdefs.ErrExhausted):
		return "exhausted"
	}
	return "failed"
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) {
	ns, err := s.kit.Networks.List(r.Context(), network.Filter{})
	replyWith(s, w, r, http.StatusOK, ns, err, newNetworkResponses)
}

func (s *Server) getNetwork(w http.ResponseWriter, r *http.Request) {
	n, err := s.kit.Networks.Get(r.Context(), r.PathValue("id"))
	replyWith(s, w, r, http.StatusOK, n, err, newNetworkResponse)
}

// findNetworks answers the networks matching the request; one that can
// match nothing reads none.
func (s *Server) findNetworks(w http.ResponseWriter, r *http.Request) {
	var req networkFindRequest
	if err := decodeFind(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	f, ok, err := req.filter()
	ns := []*network.Network{}
	if err == nil && ok {
		ns, err = s.kit.Networks.List(r.Context(), f)
	}
	replyWith(s, w, r, http.StatusOK, ns, err, newNetworkResponses)
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAs(r, (*networkCreateRequest).library)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.kit.Networks.Create(r.Context(), req)
	replyWith(s, w, r, http.StatusCreated, n, err, newNetworkResponse)
}

func (s *Server) updateNetwork(w http.ResponseWriter, r *http.Request) {
	force, err := boolQuery(r, "force")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := decodeAs(r, func(body *networkUpdateRequest) (network.UpdateRequest, error) { return body.library(force) })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.kit.Networks.Update(r.Context(), req)
	replyWith(s, w, r, http.StatusOK, n, err, newNetworkResponse)
}

func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request) {
	n, err := s.kit.Networks.Delete(r.Context(), r.PathValue("id"))
	replyWith(s, w, r, http.StatusOK, n, err, newNetworkResponse)
}

func (s *Server) allocateNetwork(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAs(r, (*networkAllocateRequest).library)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.kit.Networks.AllocateChild(r.Context(), req)
	s.metrics.Allocation("network", allocationResult(err))
	replyWith(s, w, r, http.StatusCreated, n, err, newNetworkResponse)
}

func (s *Server) freeNetwork(w http.ResponseWriter, r *http.Request) {
	n, err := s.kit.Networks.Free(r.Context(), r.PathValue("id"))
	replyWith(s, w, r, http.StatusOK, n, err, newNetworkResponse)
}
