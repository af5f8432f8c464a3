package machine

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// allocationNetworks checks the requested networks and explicit IPs of an
// allocation of machine m, acquires the automatic IPs and returns the
// machine's networks (without the ASN) in the request's order, a
// firewall's underlay last.
func (t *Tx) allocationNetworks(spec *AllocateSpec, m *Machine) ([]MachineNetwork, error) {
	req := spec.Request
	partition := m.PartitionID
	if _, err := network.SuperTx(t.tx, partition); err != nil {
		return nil, fmt.Errorf("machine: partition %s: %w", q(partition), err)
	}
	var errs []error
	stored := make([]*network.Network, len(req.Networks))
	for i, rn := range req.Networks {
		n, err := network.GetTx(t.tx, rn.NetworkID)
		if err != nil {
			errs = append(errs, fmt.Errorf("machine: networks[%d]: %w", i, err))
			continue
		}
		stored[i] = n
	}
	explicit := make([]*network.IP, len(spec.IPs))
	for i, a := range spec.IPs {
		ip, err := network.GetIPTx(t.tx, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("machine: ips[%d]: %w", i, err))
			continue
		}
		switch {
		case ip.ProjectID != req.ProjectID:
			errs = append(errs, invalid("ips[%d] %s belongs to project %s, not to the allocation's project %s", i, a, q(ip.ProjectID), q(req.ProjectID)))
		case ip.Scope() != network.ScopeProject && ip.Scope() != network.ScopeMachine:
			errs = append(errs, invalid("ips[%d] %s has no project scope", i, a))
		case !slices.ContainsFunc(req.Networks, func(n AllocationNetwork) bool { return n.NetworkID == ip.NetworkID }):
			errs = append(errs, invalid("ips[%d] %s lies in network %s, which the request does not list", i, a, q(ip.NetworkID)))
		}
		explicit[i] = ip
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	requested := make([]RequestedNetwork, len(req.Networks))
	for i, rn := range req.Networks {
		n := stored[i]
		count := 0
		for _, ip := range explicit {
			if ip.NetworkID == n.ID {
				count++
			}
		}
		requested[i] = RequestedNetwork{
			ID: n.ID, PrivateSuper: n.PrivateSuper, Underlay: n.Underlay, Private: n.ParentNetworkID != "",
			Shared: n.Shared, ProjectID: n.ProjectID, PartitionID: n.PartitionID,
			AutoAcquire: rn.Auto(), ExplicitIPs: count,
		}
	}
	classified, err := ClassifyNetworks(req.Role, req.ProjectID, partition, requested)
	if err != nil {
		return nil, err
	}
	if req.Role == RoleFirewall {
		u, err := network.UnderlayTx(t.tx, partition)
		if err != nil {
			return nil, fmt.Errorf("machine: a firewall joins the partition's underlay: %w", err)
		}
		stored = append(stored, u)
		classified = append(classified, ClassifiedNetwork{ID: u.ID, Type: Underlay, Acquire: true})
	}
	env := t.networkTx().Env()
	tag := network.MachineTagPrefix + m.ID
	out := make([]MachineNetwork, len(classified))
	for i, c := range classified {
		n := stored[i]
		mn := MachineNetwork{
			NetworkID: n.ID, Prefixes: slices.Clone(n.Prefixes), IPs: []netip.Addr{},
			DestinationPrefixes: slices.Clone(n.DestinationPrefixes), VRF: n.VRF, NAT: n.NAT, ProjectID: n.ProjectID,
		}
		mn.SetType(c.Type)
		for _, ip := range explicit {
			if ip.NetworkID != n.ID {
				continue
			}
			if !slices.Contains(ip.Tags, tag) {
				tags := append(slices.Clone(ip.Tags), tag)
				if _, err := network.UpdateIPTx(t.tx, env, network.UpdateIPRequest{IPAddress: ip.IPAddress, Tags: tags}); err != nil {
					return nil, fmt.Errorf("machine: ips: %w", err)
				}
			}
			mn.IPs = append(mn.IPs, ip.IPAddress)
		}
		if c.Acquire {
			if len(n.Prefixes) == 0 {
				return nil, invalid("networks: network %s has no prefixes to take an IP from", q(n.ID))
			}
			for _, f := range n.Families() {
				ip, err := network.AllocateIPTx(t.tx, env, network.AllocateIPRequest{
					NetworkID: n.ID, ProjectID: req.ProjectID, Name: req.Name, Description: "autoassigned",
					Type: network.IPTypeEphemeral, MachineID: m.ID, AddressFamily: f,
				})
				if err != nil {
					return nil, fmt.Errorf("machine: network %s, %s: %w", q(n.ID), f, err)
				}
				mn.IPs = append(mn.IPs, ip.IPAddress)
			}
		}
		out[i] = mn
	}
	return out, nil
}

// acquireASN takes the lowest free ASN, creating the pool on first use.
func acquireASN(tx backends.Tx) (uint32, error) {
	if _, err := ipam.GetPool(tx, asnPool); errors.Is(err, ipam.ErrNotFound) {
		if err := ipam.CreatePool(tx, asnPool, 1, MaxASNOffset); err != nil {
			return 0, err
		}
	} else if err != nil {
		return 0, err
	}
	v, err := ipam.AcquireInt(tx, asnPool)
	if err != nil {
		return 0, fmt.Errorf("machine: asn: %w", err)
	}
	return uint32(ASNBase + v), nil
}

// releaseASN gives an allocation's ASN back; the pool goes with its last
// value, so that nothing of it outlives the allocations.
func releaseASN(tx backends.Tx, asn uint32) error {
	if asn <= ASNBase || asn > ASNBase+MaxASNOffset {
		return corrupt("asn %d lies outside the pool %d..%d", asn, ASNBase+1, ASNBase+MaxASNOffset)
	}
	if err := ipam.ReleaseInt(tx, asnPool, uint64(asn-ASNBase)); err != nil {
		return fmt.Errorf("machine: asn %d: %w", asn, err)
	}
	p, err := ipam.GetPool(tx, asnPool)
	if err != nil {
		return err
	}
	if p.Used == 0 {
		return ipam.DeletePool(tx, asnPool)
	}
	return nil
}

// allocationASN is the ASN of an allocation, 0 when it has none.
func allocationASN(a *Allocation) uint32 {
	for _, n := range a.Networks {
		if n.ASN != 0 {
			return n.ASN
		}
	}
	return 0
}

// ReportRequest is the install report of an allocated machine.
type ReportRequest struct {
	ConsolePassword string   `json:"console_password"`
	BootInfo        BootInfo `json:"boot_info"`
}

// Report records machine id's install report: console password and boot
// information, reinstall false, succeeded true (metal-api never sets it),
// and, in the same transaction, the VRF of every switch port connected to
// the machine: "default" for a firewall, "vrf<N>" for a machine, N being the
// VRF of its primary private network. The machine must be allocated
// (ErrConflict otherwise).
func (t *Tx) Report(id string, r ReportRequest) (*Machine, error) {
	if err := t.scope.adminOnly("reporting an installation"); err != nil {
		return nil, err
	}
	errs := []error{limit(limits.Description("console_password", r.ConsolePassword))}
	for _, f := range []struct{ name, v string }{{"boot_info.image_id", r.BootInfo.ImageID}, {"boot_info.primary_disk", r.BootInfo.PrimaryDisk},
		{"boot_info.os_partition", r.BootInfo.OSPartition}, {"boot_info.initrd", r.BootInfo.Initrd}, {"boot_info.cmdline", r.BootInfo.Cmdline},
		{"boot_info.kernel", r.BootInfo.Kernel}, {"boot_info.bootloaderid", r.BootInfo.BootloaderID}} {
		errs = append(errs, limit(limits.Description(f.name, f.v)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e, err := loadMachine(t.tx, id)
	if err != nil {
		return nil, err
	}
	if !e.m.Allocated() {
		return nil, conflict("machine %s is not allocated; only an allocated machine reports its installation", q(id))
	}
	vrf := switchstate.VRFDefault
	if e.m.Allocation.Role != RoleFirewall {
		i := slices.IndexFunc(e.m.Allocation.Networks, func(n MachineNetwork) bool { return n.PrivatePrimary })
		if i < 0 {
			return nil, conflict("machine %s has no primary private network, so its switch ports get no VRF", q(id))
		}
		vrf = switchstate.TenantVRF(e.m.Allocation.Networks[i].VRF)
	}
	if err := switchstate.SetMachineVRF(t.tx, id, vrf); err != nil {
		return nil, fmt.Errorf("machine: report %s: %w", q(id), err)
	}
	m := *e.m
	a := *m.Allocation
	bi := r.BootInfo
	a.ConsolePassword, a.BootInfo, a.Reinstall, a.Succeeded = r.ConsolePassword, &bi, false, true
	m.Allocation, m.Changed = &a, t.now()
	return t.saveMachine(e, &m, "machine.report", r)
}

// AbortReinstall ends a pending reinstall of machine id whose primary disk
// was not wiped: reinstall false and the image back to the boot
// information's. It returns the machine's boot information as it was (nil
// when it has none). A free machine, or a wiped disk, changes nothing.
func (t *Tx) AbortReinstall(id string, primaryDiskWiped bool) (*BootInfo, error) {
	if err := t.scope.adminOnly("aborting a reinstall"); err != nil {
		return nil, err
	}
	e, err := loadMachine(t.tx, id)
	if err != nil {
		return nil, err
	}
	if !e.m.Allocated() {
		return nil, nil
	}
	old := e.m.Allocation.BootInfo
	if primaryDiskWiped {
		return old, nil
	}
	m := *e.m
	a := *m.Allocation
	a.Reinstall = false
	if old != nil && old.ImageID != "" {
		a.ImageID = old.ImageID
	}
	m.Allocation, m.Changed = &a, t.now()
	e.m = &m
	if err := e.save(t.tx); err != nil {
		return nil, err
	}
	return old, t.record("machine.abortreinstall", machinePath(id), map[string]any{"primary_disk_wiped": primaryDiskWiped})
}

// Reinstall marks allocated machine id for a reinstall with imageID: the
// image goes through the catalog for the machine's role and size
// (metal-api checks nothing), reinstall is set, the image replaced, and the
// VRFs of its switch ports cleared so that it boots into the PXE network. A
// free machine is ErrConflict, a LOCKED one ErrLocked.
func (t *Tx) Reinstall(id, imageID string) (*Machine, error) {
	if err := limit(limits.ID("imageid", imageID)); err != nil {
		return nil, err
	}
	e, err := t.owned(id, "reinstall")
	if err != nil {
		return nil, err
	}
	if !e.m.Allocated() {
		return nil, conflict("machine %s is not allocated; only an allocated machine is reinstalled", q(id))
	}
	if e.m.State.Value == StateLocked {
		return nil, fmtErr(ErrLocked, "machine %s is locked (%s); unlock it to reinstall it", q(id), q(e.m.State.Description))
	}
	if err := t.s.checkImage(t.ctx, imageID, e.m.Allocation.Role, e.m.SizeID); err != nil {
		return nil, err
	}
	if err := switchstate.SetMachineVRF(t.tx, id, switchstate.VRFNone); err != nil {
		return nil, fmt.Errorf("machine: reinstall %s: %w", q(id), err)
	}
	m := *e.m
	a := *m.Allocation
	a.Reinstall, a.ImageID = true, imageID
	m.Allocation, m.Changed = &a, t.now()
	return t.saveMachine(e, &m, "machine.reinstall", map[string]string{"imageid": imageID})
}

// Free frees (reclaims) machine id in one transaction (metal-api releases
// asynchronously and records the event after answering): the VRFs of its
// switch ports become ""; every IP of its allocation and every IP still
// tagged with the machine loses the machine's tag and is released unless it
// is static or another machine's tag remains; the ASN returns to the pool;
// allocation and tags become null; a Machine Reclaim event ("free machine
// called") goes through the event rules. A LOCKED machine is ErrLocked and
// changes nothing. Freeing a free machine does the same (it releases
// leftovers).
func (t *Tx) Free(id string) (*Machine, error) {
	e, err := t.owned(id, "free")
	if err != nil {
		return nil, err
	}
	return t.free(e, "machine.free")
}

func (t *Tx) free(e *entry, detail string) (*Machine, error) {
	id := e.id
	if e.m.State.Value == StateLocked {
		return nil, fmtErr(ErrLocked, "machine %s is locked (%s); unlock it to free it", q(id), q(e.m.State.Description))
	}
	if err := switchstate.SetMachineVRF(t.tx, id, switchstate.VRFNone); err != nil {
		return nil, fmt.Errorf("machine: free %s: %w", q(id), err)
	}
	if err := t.releaseTagged(id, e.m.Allocation); err != nil {
		return nil, err
	}
	if a := e.m.Allocation; a != nil {
		if asn := allocationASN(a); asn != 0 {
			if err := releaseASN(t.tx, asn); err != nil {
				return nil, err
			}
		}
	}
	m := *e.m
	m.Allocation, m.Tags, m.Changed = nil, nil, t.now()
	e.m = &m
	if _, err := t.applyEvent(e, ProvisioningEvent{Event: EventMachineReclaim, Message: "free machine called"}); err != nil {
		return nil, err
	}
	return &m, t.record(detail, machinePath(id), map[string]string{"id": id})
}

// releaseTagged removes machine id's tag from the IPs of alloc (nil: none)
// and from every IP still tagged with it, and releases each unless it is
// static or another machine's tag remains.
func (t *Tx) releaseTagged(id string, alloc *Allocation) error {
	tag := network.MachineTagPrefix + id
	tagged, err := network.ListIPsTx(t.tx, network.IPFilter{Tags: []string{tag}})
	if err != nil {
		return err
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range tagged {
		seen[ip.IPAddress] = true
	}
	if alloc != nil {
		for _, n := range alloc.Networks {
			for _, a := range n.IPs {
				if seen[a] {
					continue
				}
				seen[a] = true
				ip, err := network.GetIPTx(t.tx, a)
				if errors.Is(err, network.ErrNotFound) {
					continue // released by other means
				}
				if err != nil {
					return err
				}
				tagged = append(tagged, ip)
			}
		}
	}
	env := t.networkTx().Env()
	for _, ip := range tagged {
		if !slices.Contains(ip.Tags, tag) {
			continue
		}
		rest := make([]string, 0, len(ip.Tags))
		other := false
		for _, tg := range ip.Tags {
			if tg == tag {
				continue
			}
			rest = append(rest, tg)
			if strings.HasPrefix(tg, network.MachineTagPrefix) {
				other = true
			}
		}
		if ip.Type == network.IPTypeStatic || other {
			if _, err := network.UpdateIPTx(t.tx, env, network.UpdateIPRequest{IPAddress: ip.IPAddress, Tags: rest}); err != nil {
				return fmt.Errorf("machine: untag ip %s: %w", ip.IPAddress, err)
			}
			continue
		}
		if err := network.ReleaseIPTx(t.tx, ip); err != nil {
			return fmt.Errorf("machine: release ip %s: %w", ip.IPAddress, err)
		}
	}
	return nil
}

// UpdateRequest changes an allocated machine. A nil or empty field is
// left as it is.
type UpdateRequest struct {
	ID          string  `json:"id"`
	Description *string `json:"description,omitempty"`
	// Tags, when not empty, recompute the machine's tags (MachineTags with
	// the system labels); tags cannot be cleared this way.
	Tags []string `json:"tags,omitempty"`
	// SSHPubKeys, when not empty, replace the allocation's keys.
	SSHPubKeys []string `json:"ssh_pub_keys,omitempty"`
}

// Update changes the description, tags or SSH keys of an allocated
// machine (ErrConflict for a free one).
func (t *Tx) Update(req UpdateRequest) (*Machine, error) {
	errs := []error{limit(limits.Tags("tags", req.Tags)), limit(limits.Count("ssh_pub_keys", len(req.SSHPubKeys)))}
	if req.Description != nil {
		errs = append(errs, limit(limits.Description("description", *req.Description)))
	}
	for i, k := range req.SSHPubKeys {
		errs = append(errs, checkAuthorizedKey(field("ssh_pub_keys", i), k))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e, err := t.owned(req.ID, "update")
	if err != nil {
		return nil, err
	}
	if !e.m.Allocated() {
		return nil, conflict("machine %s is not allocated; only an allocated machine is updated", q(req.ID))
	}
	m := *e.m
	a := *m.Allocation
	if req.Description != nil {
		a.Description = *req.Description
	}
	if len(req.SSHPubKeys) > 0 {
		a.SSHPubKeys = slices.Clone(req.SSHPubKeys)
	}
	m.Allocation = &a
	if len(req.Tags) > 0 {
		m.Tags = MachineTags(req.Tags, SystemLabelsOf(&m))
	}
	m.Changed = t.now()
	return t.saveMachine(e, &m, "machine.update", req)
}
