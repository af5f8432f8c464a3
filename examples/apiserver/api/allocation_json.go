package api

import (
	"strconv"
	"strings"

	"github.com/metalkit/metalkit/machine"
)

// The JSON of an allocation's firewall rules and servers, in requests and
// answers.

// firewallRulesJSON is metal-api's v1.FirewallRules, in requests and
// answers: protocols in lower case, prefixes as strings.
type firewallRulesJSON struct {
	Egress  []egressRuleJSON  `json:"egress,omitempty"`
	Ingress []ingressRuleJSON `json:"ingress,omitempty"`
}

// egressRuleJSON is metal-api's v1.FirewallEgressRule.
type egressRuleJSON struct {
	Protocol string   `json:"protocol,omitempty"`
	Ports    []int    `json:"ports"`
	To       []string `json:"to"`
	Comment  string   `json:"comment,omitempty"`
}

// ingressRuleJSON is metal-api's v1.FirewallIngressRule.
type ingressRuleJSON struct {
	Protocol string   `json:"protocol,omitempty"`
	Ports    []int    `json:"ports"`
	To       []string `json:"to,omitempty"`
	From     []string `json:"from"`
	Comment  string   `json:"comment,omitempty"`
}

func newFirewallRulesJSON(fr *machine.FirewallRules) *firewallRulesJSON {
	ports := func(p []int) []int {
		if p == nil {
			return []int{}
		}
		return p
	}
	out := &firewallRulesJSON{}
	for _, e := range fr.Egress {
		out.Egress = append(out.Egress, egressRuleJSON{
			Protocol: strings.ToLower(string(e.Protocol)), Ports: ports(e.Ports), To: prefixStrings(e.To), Comment: e.Comment,
		})
	}
	for _, in := range fr.Ingress {
		out.Ingress = append(out.Ingress, ingressRuleJSON{
			Protocol: strings.ToLower(string(in.Protocol)), Ports: ports(in.Ports), To: prefixStrings(in.To),
			From: prefixStrings(in.From), Comment: in.Comment,
		})
	}
	return out
}

// library converts a request's firewall rules; prefixes that do not parse
// are named (the library checks the rest).
func (fr *firewallRulesJSON) library() (*machine.FirewallRules, []error) {
	if fr == nil {
		return nil, nil
	}
	out := &machine.FirewallRules{}
	var errs []error
	for i, rule := range fr.Egress {
		f := "firewall_rules.egress[" + strconv.Itoa(i) + "]"
		out.Egress = append(out.Egress, machine.EgressRule{
			Protocol: machine.Protocol(rule.Protocol), Ports: rule.Ports, Comment: rule.Comment,
			To: parsePrefixes(f+".to", rule.To, &errs),
		})
	}
	for i, rule := range fr.Ingress {
		f := "firewall_rules.ingress[" + strconv.Itoa(i) + "]"
		out.Ingress = append(out.Ingress, machine.IngressRule{
			Protocol: machine.Protocol(rule.Protocol), Ports: rule.Ports, Comment: rule.Comment,
			To: parsePrefixes(f+".to", rule.To, &errs), From: parsePrefixes(f+".from", rule.From, &errs),
		})
	}
	return out, errs
}

// parseDNSServers converts a request's DNS servers.
func parseDNSServers(in []*dnsServerIn) ([]machine.DNSServer, []error) {
	var out []machine.DNSServer
	var errs []error
	for i, d := range in {
		f := "dns_servers[" + strconv.Itoa(i) + "].ip"
		if d == nil || d.IP == nil {
			errs = append(errs, invalid("%s is required", f))
			continue
		}
		a, err := parseAddr(f, *d.IP)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, machine.DNSServer{IP: a})
	}
	return out, errs
}

// parseNTPServers converts a request's NTP servers (the library checks the
// addresses).
func parseNTPServers(in []*ntpServerIn) ([]machine.NTPServer, []error) {
	var out []machine.NTPServer
	var errs []error
	for i, n := range in {
		if n == nil || n.Address == nil {
			errs = append(errs, invalid("ntp_servers[%d].address is required", i))
			continue
		}
		out = append(out, machine.NTPServer{Address: *n.Address})
	}
	return out, errs
}
