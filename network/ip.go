package network

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// getIP returns the IP record of a and the prefix it was taken from.
func getIP(tx backends.Tx, a netip.Addr) (*IP, netip.Prefix, error) {
	b, err := tx.Get(bucketIPs, ipKey(a))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, netip.Prefix{}, errdefs.Errorf(ErrNotFound, "network: ip %s is not allocated", a)
	}
	if err != nil {
		return nil, netip.Prefix{}, err
	}
	return decodeIPAt(a, b)
}

func checkIPType(t IPType) (IPType, error) {
	switch t {
	case "":
		return IPTypeEphemeral, nil
	case IPTypeEphemeral, IPTypeStatic:
		return t, nil
	}
	return "", errdefs.Errorf(ErrInvalidArgument, "network: type %q: must be %s or %s", t, IPTypeEphemeral, IPTypeStatic)
}

// ipFamily picks the family of an allocation: the explicit one; else the
// network's only family; else IPv4.
func ipFamily(n *Network, explicit AddressFamily) (AddressFamily, error) {
	if explicit != "" {
		f, err := ParseAddressFamily(string(explicit))
		if err != nil {
			return "", err
		}
		if !n.HasFamily(f) {
			return "", errdefs.Errorf(ErrInvalidArgument, "network: addressfamily %s: network %q has no %s prefix", f, n.ID, f)
		}
		return f, nil
	}
	if fams := n.Families(); len(fams) == 1 {
		return fams[0], nil
	}
	return IPv4, nil
}

// checkOwnership: an unshared child gives IPs only to its own project;
// shared children and networks without a parent give IPs to any project.
func checkOwnership(n *Network, project string) error {
	if n.ParentNetworkID != "" && !n.Shared && n.ProjectID != project {
		return errdefs.Errorf(ErrForbidden, "network: network %q belongs to project %q and is not shared; project %q cannot take IPs from it", n.ID, n.ProjectID, project)
	}
	return nil
}

// AllocateIPTx allocates an IP of a network: a specific address, or the
// lowest free address of the first prefix of the chosen family that has
// one. It returns an error wrapping ipam.ErrExhausted when every prefix of
// that family is full.
func AllocateIPTx(tx backends.Tx, env Env, req AllocateIPRequest) (*IP, error) {
	errs := fieldLimits(
		limits.ID("networkid", req.NetworkID),
		limits.ID("projectid", req.ProjectID),
		limits.OptionalID("machineid", req.MachineID),
		limits.Name("name", req.Name),
		limits.Description("description", req.Description),
		limits.Tags("tags", req.Tags),
	)
	typ, err := checkIPType(req.Type)
	if err != nil {
		errs = append(errs, err)
	}
	if req.Address.IsValid() && req.AddressFamily != "" {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: ipaddress %s and addressfamily %s: give one or the other", req.Address, req.AddressFamily))
	}
	if req.Address.IsValid() && (req.Address.Zone() != "" || req.Address.Is4In6()) {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: ipaddress %s: zones and IPv4-mapped IPv6 addresses are not allowed", req.Address))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	n, err := GetTx(tx, req.NetworkID)
	if err != nil {
		return nil, err
	}
	if err := checkOwnership(n, req.ProjectID); err != nil {
		return nil, err
	}
	var addr netip.Addr
	var from netip.Prefix
	if req.Address.IsValid() {
		p, ok := prefixContaining(n, req.Address)
		if !ok {
			return nil, errdefs.Errorf(ErrInvalidArgument, "network: ipaddress %s lies in no prefix of network %q", req.Address, n.ID)
		}
		if err := acquireSpecificIP(tx, p, req.Address); err != nil {
			return nil, err
		}
		addr, from = req.Address, p
	} else {
		f, err := ipFamily(n, req.AddressFamily)
		if err != nil {
			return nil, err
		}
		if addr, from, err = acquireFromFamily(tx, n, f); err != nil {
			return nil, err
		}
	}
	tags := slices.Clone(req.Tags)
	if req.MachineID != "" {
		tags = append(tags, MachineTagPrefix+req.MachineID)
	}
	ip := &IP{
		IPAddress:      addr,
		AllocationUUID: env.NewID(),
		NetworkID:      n.ID,
		ProjectID:      req.ProjectID,
		Name:           req.Name,
		Description:    req.Description,
		Type:           typ,
		Tags:           sortedTags(tags),
		Created:        env.Now,
		Changed:        env.Now,
	}
	if err := insertIP(tx, ip, from); err != nil {
		return nil, err
	}
	return ip, nil
}

func prefixContaining(n *Network, a netip.Addr) (netip.Prefix, bool) {
	for _, p := range n.Prefixes {
		if p.Contains(a) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// acquireFromFamily takes the lowest free address of the first prefix of
// family f that has one (exhausted prefixes are skipped) and returns it
// with that prefix.
func acquireFromFamily(tx backends.Tx, n *Network, f AddressFamily) (netip.Addr, netip.Prefix, error) {
	var last error
	for _, p := range n.Prefixes {
		if FamilyOf(p.Addr()) != f {
			continue
		}
		a, err := acquireIP(tx, p)
		if err == nil {
			return a, p, nil
		}
		if !isExhausted(err) {
			return netip.Addr{}, netip.Prefix{}, errdefs.Errorf(nil, "network: network %q: %w", n.ID, err)
		}
		last = err
	}
	return netip.Addr{}, netip.Prefix{}, errdefs.Errorf(nil, "network: network %q: every %s prefix is exhausted: %w", n.ID, f, last)
}

// UpdateIPTx changes name, description, tags and type of an IP. Static to
// ephemeral is forbidden; the scope may change between project and
// machine, never between empty and machine.
func UpdateIPTx(tx backends.Tx, env Env, req UpdateIPRequest) (*IP, error) {
	var errs []error
	if req.Name != nil {
		errs = append(errs, fieldLimits(limits.Name("name", *req.Name))...)
	}
	if req.Description != nil {
		errs = append(errs, fieldLimits(limits.Description("description", *req.Description))...)
	}
	errs = append(errs, fieldLimits(limits.Tags("tags", req.Tags))...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ip, taken, err := getIP(tx, req.IPAddress)
	if err != nil {
		return nil, err
	}
	next := *ip
	if req.Name != nil {
		next.Name = *req.Name
	}
	if req.Description != nil {
		next.Description = *req.Description
	}
	if req.Type != nil {
		typ, err := checkIPType(*req.Type)
		if err != nil {
			return nil, err
		}
		if ip.Type == IPTypeStatic && typ == IPTypeEphemeral {
			return nil, errdefs.Errorf(ErrForbidden, "network: type: ip %s is static and cannot become ephemeral", ip.IPAddress)
		}
		next.Type = typ
	}
	if req.Tags != nil {
		next.Tags = sortedTags(req.Tags)
	}
	from, to := ip.Scope(), next.Scope()
	if from != to && (from == ScopeEmpty || to == ScopeEmpty) {
		return nil, errdefs.Errorf(ErrForbidden, "network: tags: ip %s cannot change its scope from %q to %q", ip.IPAddress, scopeName(from), scopeName(to))
	}
	next.Changed = env.Now
	if err := putIP(tx, ip, &next, taken); err != nil {
		return nil, err
	}
	return &next, nil
}

func scopeName(s IPScope) string {
	if s == ScopeEmpty {
		return "empty"
	}
	return string(s)
}

// FreeIPTx releases an IP and its address in one step. An IP bound to a
// machine cannot be freed directly.
func FreeIPTx(tx backends.Tx, addr netip.Addr) (*IP, error) {
	ip, from, err := getIP(tx, addr)
	if err != nil {
		return nil, err
	}
	if ip.Scope() == ScopeMachine {
		return nil, errdefs.Errorf(ErrForbidden, "network: ip %s is bound to machine %q; free the machine instead", ip.IPAddress, ip.MachineID())
	}
	return ip, release(tx, ip, from)
}

// ReleaseIPTx releases the IP stored at ip's address without the scope
// check; the machine package calls it when it frees a machine.
func ReleaseIPTx(tx backends.Tx, ip *IP) error {
	stored, from, err := getIP(tx, ip.IPAddress)
	if err != nil {
		return err
	}
	return release(tx, stored, from)
}

// release returns the address of ip to from, the prefix it was taken from,
// and deletes the record.
func release(tx backends.Tx, ip *IP, from netip.Prefix) error {
	if err := releaseIP(tx, from, ip.IPAddress); err != nil {
		return errdefs.Errorf(nil, "network: ip %s of network %q: %w", ip.IPAddress, ip.NetworkID, err)
	}
	return deleteIP(tx, ip)
}
