package machine

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/metalkit/metalkit/limits"
)

// The bounds of an allocation request.
const (
	// MaxDNSServers is the most dns_servers a request may give.
	MaxDNSServers = 3
	// MaxNTPServers is the most ntp_servers a request may give.
	MaxNTPServers = 5
	// MaxCommentLength is the most characters of a firewall rule's
	// comment.
	MaxCommentLength = 100
)

// AllocateRequest asks for a machine or firewall. JSON names are
// metal-api's. The creator is not part of it: it is an argument of the
// allocation.
type AllocateRequest struct {
	// UUID names the machine to allocate; empty picks one by PartitionID
	// and SizeID, which are then required.
	UUID        string `json:"uuid,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Hostname defaults to DefaultHostname.
	Hostname           string `json:"hostname,omitempty"`
	ProjectID          string `json:"projectid"`
	PartitionID        string `json:"partitionid,omitempty"`
	SizeID             string `json:"sizeid,omitempty"`
	ImageID            string `json:"imageid"`
	FilesystemLayoutID string `json:"filesystemlayoutid,omitempty"`
	// SSHPubKeys are authorized_keys lines, one key each.
	SSHPubKeys []string `json:"ssh_pub_keys"`
	// UserData is opaque to the library.
	UserData string `json:"user_data,omitempty"`
	// Tags are the user's tags; see MachineTags.
	Tags     []string            `json:"tags,omitempty"`
	Networks []AllocationNetwork `json:"networks"`
	// IPs are addresses of the project to attach; each must lie in one of
	// Networks, which then acquires nothing automatically.
	IPs []string `json:"ips,omitempty"`
	// PlacementTags spread the machine away from the project's machines
	// that carry one of them (see SpreadAcrossRacks).
	PlacementTags []string    `json:"placement_tags,omitempty"`
	DNSServers    []DNSServer `json:"dns_servers,omitempty"`
	NTPServers    []NTPServer `json:"ntp_servers,omitempty"`
	// FirewallRules are only for firewalls.
	FirewallRules *FirewallRules `json:"firewall_rules,omitempty"`
	// Role is RoleMachine (also when empty) or RoleFirewall.
	Role Role `json:"role,omitempty"`
}

// AllocationNetwork is a network an allocation asks for.
type AllocationNetwork struct {
	NetworkID string `json:"networkid"`
	// AutoAcquire, true when nil, acquires an IP per address family of the
	// network.
	AutoAcquire *bool `json:"autoacquire,omitempty"`
}

// Auto reports whether the network acquires IPs automatically.
func (n AllocationNetwork) Auto() bool { return n.AutoAcquire == nil || *n.AutoAcquire }

// AllocateSpec is a validated allocation request.
type AllocateSpec struct {
	// Request is the request with its defaults applied: Role and Hostname
	// set; FirewallRules nil unless a firewall has at least one rule, with
	// every protocol spelled ProtocolTCP or ProtocolUDP.
	Request AllocateRequest
	// Creator is the user who allocates.
	Creator string
	// IPs are Request.IPs parsed, in order.
	IPs []netip.Addr
}

// ValidateAllocateRequest checks an allocation request for creator without
// the store and returns it with its defaults applied. Every problem is
// returned together, each matching ErrInvalidArgument and naming the field
// and the value:
//
//   - networks missing or empty; projectid or creator missing; a role
//     other than machine or firewall;
//   - without uuid: partitionid or sizeid missing;
//   - an ips entry that is no IP address; an ssh_pub_keys entry that is no
//     single authorized_keys line;
//   - more networks with autoacquire false than ips;
//   - a firewall with neither an IP nor a network with autoacquire;
//   - more than MaxDNSServers dns_servers or an invalid one; more than
//     MaxNTPServers ntp_servers or one that is neither an IP address nor
//     a DNS name;
//   - firewall_rules on a machine; a rule whose protocol is not tcp or udp
//     (any case; empty is tcp), with a port outside 0..65535, a comment of
//     more than MaxCommentLength characters or of others than letters,
//     '_', '-' and space, a prefix that is invalid or has host bits set,
//     or prefixes of two address families (for ingress, from and to
//     together);
//   - ids, names, description, tags and list lengths beyond package
//     limits.
//
// What needs the store or the catalog (the machine, networks, IPs, image,
// project and partition exist and fit) is the service's. The spec's
// Request shares its slices with req; req itself is not modified.
func ValidateAllocateRequest(req AllocateRequest, creator string) (*AllocateSpec, error) {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if req.Role == "" {
		req.Role = RoleMachine
	}
	if req.Role != RoleMachine && req.Role != RoleFirewall {
		add(invalid("role %s is unknown; use machine or firewall", q(string(req.Role))))
	}
	if req.Hostname == "" {
		req.Hostname = DefaultHostname
	}

	if len(req.Networks) == 0 {
		add(invalid("networks: at least one network is required"))
	}
	add(limit(limits.Count("networks", len(req.Networks))))
	noAuto, auto := 0, 0
	for i, n := range req.Networks {
		add(limit(limits.ID(field("networks", i)+".networkid", n.NetworkID)))
		if n.Auto() {
			auto++
		} else {
			noAuto++
		}
	}
	add(limit(limits.ID("projectid", req.ProjectID)))
	if creator == "" {
		add(invalid("creator is required"))
	} else {
		add(limit(limits.Name("creator", creator)))
	}
	if req.UUID == "" {
		add(limit(limits.ID("partitionid", req.PartitionID)))
		add(limit(limits.ID("sizeid", req.SizeID)))
	} else {
		add(limit(limits.ID("uuid", req.UUID)))
		add(limit(limits.OptionalID("partitionid", req.PartitionID)))
		add(limit(limits.OptionalID("sizeid", req.SizeID)))
	}
	add(limit(limits.OptionalID("imageid", req.ImageID)))
	add(limit(limits.OptionalID("filesystemlayoutid", req.FilesystemLayoutID)))
	add(limit(limits.Name("name", req.Name)))
	add(limit(limits.Name("hostname", req.Hostname)))
	add(limit(limits.Description("description", req.Description)))
	add(limit(limits.Tags("tags", req.Tags)))
	add(limit(limits.Tags("placement_tags", req.PlacementTags)))

	add(limit(limits.Count("ips", len(req.IPs))))
	ips := make([]netip.Addr, 0, len(req.IPs))
	for i, s := range req.IPs {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			add(invalid("%s %s is not an IP address", field("ips", i), q(s)))
		case a.Zone() != "":
			add(invalid("%s %s: zones are not allowed", field("ips", i), q(s)))
		default:
			ips = append(ips, a.Unmap())
		}
	}

	add(limit(limits.Count("ssh_pub_keys", len(req.SSHPubKeys))))
	for i, k := range req.SSHPubKeys {
		add(checkAuthorizedKey(field("ssh_pub_keys", i), k))
	}

	if noAuto > len(req.IPs) {
		add(invalid("networks: %d networks have autoacquire false but only %d ips are given; each needs an IP", noAuto, len(req.IPs)))
	}
	if req.Role == RoleFirewall && len(req.IPs) == 0 && auto == 0 {
		add(invalid("networks: a firewall needs an IP in ips or at least one network with autoacquire"))
	}

	if len(req.DNSServers) > MaxDNSServers {
		add(invalid("dns_servers: %d are given; at most %d are allowed", len(req.DNSServers), MaxDNSServers))
	}
	for i, d := range req.DNSServers {
		if !d.IP.IsValid() {
			add(invalid("%s.ip is not an IP address", field("dns_servers", i)))
		} else if d.IP.Zone() != "" {
			add(invalid("%s.ip %s: zones are not allowed", field("dns_servers", i), q(d.IP.String())))
		}
	}
	if len(req.NTPServers) > MaxNTPServers {
		add(invalid("ntp_servers: %d are given; at most %d are allowed", len(req.NTPServers), MaxNTPServers))
	}
	for i, n := range req.NTPServers {
		if _, err := netip.ParseAddr(n.Address); err != nil && !isDNSName(n.Address) {
			add(invalid("%s.address %s is neither an IP address nor a DNS name", field("ntp_servers", i), q(n.Address)))
		}
	}

	if rules := req.FirewallRules; rules != nil {
		if len(rules.Egress) == 0 && len(rules.Ingress) == 0 {
			req.FirewallRules = nil
		} else {
			if req.Role != RoleFirewall {
				add(invalid("firewall_rules: only a firewall has firewall rules"))
			}
			norm, err := checkFirewallRules(*rules)
			add(err)
			req.FirewallRules = &norm
		}
	}

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &AllocateSpec{Request: req, Creator: creator, IPs: ips}, nil
}

// checkAuthorizedKey checks that s is one authorized_keys line.
func checkAuthorizedKey(f, s string) error {
	_, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return invalid("%s %s is not an authorized_keys line: %v", f, q(s), err)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return invalid("%s %s holds more than one authorized_keys line", f, q(s))
	}
	return nil
}

// checkFirewallRules returns the rules with canonical protocols and every
// problem of them.
func checkFirewallRules(r FirewallRules) (FirewallRules, error) {
	var errs []error
	out := FirewallRules{}
	for i, e := range r.Egress {
		f := field("firewall_rules.egress", i)
		p, err := parseProtocol(f, e.Protocol)
		errs = append(errs, err, checkPorts(f, e.Ports), checkComment(f, e.Comment),
			checkPrefixes(f, map[string][]netip.Prefix{"to": e.To}, "to"))
		e.Protocol = p
		out.Egress = append(out.Egress, e)
	}
	for i, in := range r.Ingress {
		f := field("firewall_rules.ingress", i)
		p, err := parseProtocol(f, in.Protocol)
		errs = append(errs, err, checkPorts(f, in.Ports), checkComment(f, in.Comment),
			checkPrefixes(f, map[string][]netip.Prefix{"from": in.From, "to": in.To}, "from", "to"))
		in.Protocol = p
		out.Ingress = append(out.Ingress, in)
	}
	return out, errors.Join(errs...)
}

func parseProtocol(f string, p Protocol) (Protocol, error) {
	switch strings.ToUpper(string(p)) {
	case "", string(ProtocolTCP):
		return ProtocolTCP, nil
	case string(ProtocolUDP):
		return ProtocolUDP, nil
	}
	return p, invalid("%s.protocol %s is unknown; use tcp or udp", f, q(string(p)))
}

func checkPorts(f string, ports []int) error {
	var errs []error
	for j, port := range ports {
		if port < 0 || port > 65535 {
			errs = append(errs, invalid("%s.ports[%d] %d is outside 0..65535", f, j, port))
		}
	}
	return errors.Join(errs...)
}

func checkComment(f, c string) error {
	var errs []error
	if n := len([]rune(c)); n > MaxCommentLength {
		errs = append(errs, invalid("%s.comment %s has %d characters; at most %d are allowed", f, q(c), n, MaxCommentLength))
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-' || r == ' ') {
			errs = append(errs, invalid("%s.comment %s contains %q; only letters, '_', '-' and space are allowed", f, q(c), r))
			break
		}
	}
	return errors.Join(errs...)
}

// checkPrefixes checks the prefixes of one rule, given per field name in
// the order of names: each valid and canonical, all of one family.
func checkPrefixes(f string, byField map[string][]netip.Prefix, names ...string) error {
	var (
		errs  []error
		first string // the field and index of the first prefix, for messages
		is4   bool
	)
	for _, name := range names {
		for j, p := range byField[name] {
			pf := fmt.Sprintf("%s.%s[%d]", f, name, j)
			switch {
			case !p.IsValid():
				errs = append(errs, invalid("%s is not a valid prefix", pf))
				continue
			case p.Addr().Zone() != "":
				errs = append(errs, invalid("%s %s: zones are not allowed", pf, q(p.String())))
				continue
			case p.Addr().Is4In6():
				errs = append(errs, invalid("%s %s: IPv4-mapped IPv6 prefixes are not allowed", pf, q(p.String())))
				continue
			case p != p.Masked():
				errs = append(errs, invalid("%s %s has host bits set; the canonical form is %s", pf, q(p.String()), p.Masked()))
			}
			if first == "" {
				first, is4 = pf, p.Addr().Is4()
			} else if p.Addr().Is4() != is4 {
				errs = append(errs, invalid("%s %s is of another address family than %s; a rule has one family", pf, q(p.String()), first))
			}
		}
	}
	return errors.Join(errs...)
}

// isDNSName reports whether s is a DNS name: dot-separated labels of 1 to
// 63 letters, digits, '-' and '_', not starting or ending with '-', at most
// 253 characters without a trailing dot, and a last label that is not all
// digits (so that a malformed IPv4 address is no name).
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// CheckAllocationTarget checks a request that names its machine (uuid)
// against the stored machine m: m must be free (else ErrConflict) and have
// a partition (else ErrConflict); a partitionid or sizeid in the request
// that differs from the machine's is an error naming both (metal-api
// ignores them). Every problem is returned together. The machine's
// state, liveliness and waiting flag are not checked (as metal-api: an
// allocation by id may take a reserved machine).
func CheckAllocationTarget(req AllocateRequest, m *Machine) error {
	var errs []error
	if m.Allocated() {
		errs = append(errs, conflict("machine %s is already allocated to project %s", q(m.ID), q(m.Allocation.Project)))
	}
	if m.PartitionID == "" {
		errs = append(errs, conflict("machine %s has no partition", q(m.ID)))
	} else if req.PartitionID != "" && req.PartitionID != m.PartitionID {
		errs = append(errs, invalid("partitionid %s differs from the partition %s of machine %s", q(req.PartitionID), q(m.PartitionID), q(m.ID)))
	}
	if req.SizeID != "" && req.SizeID != m.SizeID {
		errs = append(errs, invalid("sizeid %s differs from the size %s of machine %s", q(req.SizeID), q(m.SizeID), q(m.ID)))
	}
	return errors.Join(errs...)
}

// IsCandidate reports whether m may be picked for an allocation by size
// and partition: free, in partitionID, of sizeID, state available,
// waiting, and its container c (nil: none) Alive.
func IsCandidate(m *Machine, c *EventContainer, partitionID, sizeID string) bool {
	return !m.Allocated() && m.PartitionID == partitionID && m.SizeID == sizeID &&
		m.State.Value == StateAvailable && m.Waiting && c != nil && c.Liveliness == Alive
}
