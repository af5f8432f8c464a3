package machine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Severity is how serious an issue is: minor < major < critical.
type Severity string

// The severities.
const (
	SeverityMinor    Severity = "minor"
	SeverityMajor    Severity = "major"
	SeverityCritical Severity = "critical"
)

// ParseSeverity parses a severity name, ignoring case; empty gives
// SeverityMinor. Anything else is an error matching ErrInvalidArgument.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(s) {
	case "", string(SeverityMinor):
		return SeverityMinor, nil
	case string(SeverityMajor):
		return SeverityMajor, nil
	case string(SeverityCritical):
		return SeverityCritical, nil
	}
	return "", invalid("severity %s is unknown; use minor, major or critical", q(s))
}

func (s Severity) rank() int {
	switch s {
	case SeverityMajor:
		return 1
	case SeverityCritical:
		return 2
	}
	return 0
}

// IssueType identifies an issue.
type IssueType string

// The issue types, in the order FindIssues reports them.
const (
	IssueNoEventContainer       IssueType = "no-event-container"
	IssueNoPartition            IssueType = "no-partition"
	IssueLivelinessDead         IssueType = "liveliness-dead"
	IssueLivelinessUnknown      IssueType = "liveliness-unknown"
	IssueLivelinessNotAvailable IssueType = "liveliness-not-available"
	IssueFailedMachineReclaim   IssueType = "failed-machine-reclaim"
	IssueCrashLoop              IssueType = "crashloop"
	IssueLastEventError         IssueType = "last-event-error"
	IssueBMCWithoutMAC          IssueType = "bmc-without-mac"
	IssueBMCWithoutIP           IssueType = "bmc-without-ip"
	IssueBMCNoDistinctIP        IssueType = "bmc-no-distinct-ip"
	IssueASNNotUnique           IssueType = "asn-not-unique"
)

// Issue is one problem of a machine.
type Issue struct {
	ID          IssueType `json:"id"`
	Severity    Severity  `json:"severity"`
	Description string    `json:"description"`
	// Details says more about this machine's case, when there is more.
	Details string `json:"details,omitempty"`
}

// issueSpecs are the issue types with their severity and description, in
// report order.
var issueSpecs = []Issue{
	{IssueNoEventContainer, SeverityMajor, "the machine has no event container", ""},
	{IssueNoPartition, SeverityMajor, "the machine has no partition", ""},
	{IssueLivelinessDead, SeverityMajor, "the machine is dead: it is free and sent no event for more than 5 minutes", ""},
	{IssueLivelinessUnknown, SeverityMajor, "the machine's liveliness is unknown", ""},
	{IssueLivelinessNotAvailable, SeverityMinor, "the machine's liveliness is none of Alive, Dead and Unknown", ""},
	{IssueFailedMachineReclaim, SeverityCritical, "the machine phoned home although it is free: its reclaim failed", ""},
	{IssueCrashLoop, SeverityMajor, "the machine is in a provisioning crash loop", ""},
	{IssueLastEventError, SeverityMinor, "the machine had an error event during provisioning", ""},
	{IssueBMCWithoutMAC, SeverityMajor, "the machine's BMC has no MAC address", ""},
	{IssueBMCWithoutIP, SeverityMajor, "the machine's BMC has no address", ""},
	{IssueBMCNoDistinctIP, SeverityMajor, "the machine's BMC address is shared with another machine", ""},
	{IssueASNNotUnique, SeverityMinor, "the firewall shares its ASN with another firewall", ""},
}

// IssueSpecs returns every issue type with its severity and description,
// in report order.
func IssueSpecs() []Issue { return slices.Clone(issueSpecs) }

// DefaultLastErrorThreshold is the default of
// IssueParams.LastErrorThreshold.
const DefaultLastErrorThreshold = 7 * 24 * time.Hour

// IssueParams choose which issues FindIssues reports. The zero value
// reports every issue of every machine.
type IssueParams struct {
	// MachineIDs limits the report to these machines; none means all.
	// Machines that are not given to FindIssues are ignored.
	MachineIDs []string `json:"machineids,omitempty"`
	// Severity is the minimum severity; empty means minor.
	Severity Severity `json:"severity,omitempty"`
	// Only, when not empty, limits the report to these types.
	Only []IssueType `json:"only,omitempty"`
	// Omit leaves these types out; it wins over Only.
	Omit []IssueType `json:"omit,omitempty"`
	// LastErrorThreshold is how recent a last error event must be to be an
	// issue; zero means DefaultLastErrorThreshold.
	LastErrorThreshold time.Duration `json:"last_error_threshold,omitempty"`
}

// MachineIssues are the issues of one machine.
type MachineIssues struct {
	MachineID string  `json:"machineid"`
	Issues    []Issue `json:"issues"`
}

// FindIssues evaluates the issues of machines at now. containers maps a
// machine id to its event container (absent: the machine has none). The
// result lists the machines with at least one reported issue, sorted by
// id, each with its issues in the order of IssueSpecs. Comparisons with
// other machines (a shared BMC address, a shared firewall ASN) look at all
// of machines, also when MachineIDs limits the report.
//
//	id                        severity  condition
//	no-event-container        major     no container; nothing else is then evaluated
//	no-partition              major     empty partition
//	liveliness-dead           major     container liveliness Dead
//	liveliness-unknown        major     container liveliness Unknown
//	liveliness-not-available  minor     liveliness none of Alive, Dead, Unknown
//	failed-machine-reclaim    critical  failed_machine_reclaim set, or free with Phoned Home newest
//	crashloop                 major     crash_loop set and the newest event is not Waiting
//	last-event-error          minor     last_error_event younger than the threshold ("occurred <d> ago")
//	bmc-without-mac           major     ipmi mac empty
//	bmc-without-ip            major     ipmi address empty
//	bmc-no-distinct-ip        major     ipmi address shared with another machine
//	asn-not-unique            minor     a firewall shares an ASN with another firewall
//
// An unknown severity or issue type in p, or a negative threshold, is an
// error matching ErrInvalidArgument.
func FindIssues(machines []Machine, containers map[string]*EventContainer, now time.Time, p IssueParams) ([]MachineIssues, error) {
	var errs []error
	minSev, err := ParseSeverity(string(p.Severity))
	if err != nil {
		errs = append(errs, err)
	}
	known := func(name string, ts []IssueType) {
		for i, t := range ts {
			if !slices.ContainsFunc(issueSpecs, func(s Issue) bool { return s.ID == t }) {
				errs = append(errs, invalid("%s[%d] %s is not an issue type", name, i, q(string(t))))
			}
		}
	}
	known("only", p.Only)
	known("omit", p.Omit)
	if p.LastErrorThreshold < 0 {
		errs = append(errs, invalid("last_error_threshold %s is negative", p.LastErrorThreshold))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	threshold := p.LastErrorThreshold
	if threshold == 0 {
		threshold = DefaultLastErrorThreshold
	}
	include := func(s Issue) bool {
		if s.Severity.rank() < minSev.rank() || slices.Contains(p.Omit, s.ID) {
			return false
		}
		return len(p.Only) == 0 || slices.Contains(p.Only, s.ID)
	}

	bmcUsers := map[string][]string{} // BMC address -> machine ids
	asnUsers := map[uint32][]string{} // firewall ASN -> firewall ids
	for _, m := range machines {
		if m.IPMI.Address != "" {
			bmcUsers[m.IPMI.Address] = append(bmcUsers[m.IPMI.Address], m.ID)
		}
		if m.IsFirewall() {
			for _, asn := range firewallASNs(&m) {
				asnUsers[asn] = append(asnUsers[asn], m.ID)
			}
		}
	}

	wanted := make(map[string]bool, len(p.MachineIDs))
	for _, id := range p.MachineIDs {
		wanted[id] = true
	}
	var out []MachineIssues
	for i := range machines {
		m := &machines[i]
		if len(wanted) > 0 && !wanted[m.ID] {
			continue
		}
		c := containers[m.ID]
		var found []Issue
		for _, s := range issueSpecs {
			if !include(s) {
				continue
			}
			if c == nil {
				if s.ID == IssueNoEventContainer {
					found = append(found, s)
				}
				continue
			}
			if details, ok := evaluate(s.ID, m, c, now, threshold, bmcUsers, asnUsers); ok {
				s.Details = details
				found = append(found, s)
			}
		}
		if len(found) > 0 {
			out = append(out, MachineIssues{MachineID: m.ID, Issues: found})
		}
	}
	slices.SortStableFunc(out, func(a, b MachineIssues) int { return strings.Compare(a.MachineID, b.MachineID) })
	return out, nil
}

// evaluate decides one issue of machine m with container c.
func evaluate(t IssueType, m *Machine, c *EventContainer, now time.Time, threshold time.Duration,
	bmcUsers map[string][]string, asnUsers map[uint32][]string) (details string, ok bool) {
	newest, _ := c.Newest()
	switch t {
	case IssueNoPartition:
		return "", m.PartitionID == ""
	case IssueLivelinessDead:
		return "", c.Liveliness == Dead
	case IssueLivelinessUnknown:
		return "", c.Liveliness == Unknown
	case IssueLivelinessNotAvailable:
		return "", c.Liveliness != Alive && c.Liveliness != Dead && c.Liveliness != Unknown
	case IssueFailedMachineReclaim:
		return "", c.FailedMachineReclaim || (!m.Allocated() && len(c.Events) > 0 && newest.Event == EventPhonedHome)
	case IssueCrashLoop:
		return "", c.CrashLoop && !(len(c.Events) > 0 && newest.Event == EventWaiting)
	case IssueLastEventError:
		if c.LastErrorEvent == nil {
			return "", false
		}
		d := now.Sub(c.LastErrorEvent.Time)
		return fmt.Sprintf("occurred %s ago", d.Round(time.Second)), d < threshold
	case IssueBMCWithoutMAC:
		return "", m.IPMI.MacAddress == ""
	case IssueBMCWithoutIP:
		return "", m.IPMI.Address == ""
	case IssueBMCNoDistinctIP:
		if m.IPMI.Address == "" {
			return "", false
		}
		others := without(bmcUsers[m.IPMI.Address], m.ID)
		return fmt.Sprintf("BMC address %s is shared with %s", q(m.IPMI.Address), quoteAll(others)), len(others) > 0
	case IssueASNNotUnique:
		if !m.IsFirewall() {
			return "", false
		}
		var lines []string
		for _, asn := range firewallASNs(m) {
			if others := without(asnUsers[asn], m.ID); len(others) > 0 {
				lines = append(lines, fmt.Sprintf("ASN %d is shared with %s", asn, quoteAll(others)))
			}
		}
		return strings.Join(lines, "\n"), len(lines) > 0
	}
	return "", false
}

// firewallASNs returns the distinct non-zero ASNs of an allocated machine's
// networks, ascending.
func firewallASNs(m *Machine) []uint32 {
	var asns []uint32
	for _, n := range m.Allocation.Networks {
		if n.ASN != 0 && !slices.Contains(asns, n.ASN) {
			asns = append(asns, n.ASN)
		}
	}
	slices.Sort(asns)
	return asns
}

// without returns the ids other than id, sorted and distinct.
func without(ids []string, id string) []string {
	var out []string
	for _, x := range ids {
		if x != id && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// quoteAll quotes each id and joins them with ", ".
func quoteAll(ids []string) string {
	qs := make([]string, len(ids))
	for i, id := range ids {
		qs[i] = q(id)
	}
	return strings.Join(qs, ", ")
}
