package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	swclient "github.com/metal-stack/metal-go/api/client/switch_operations"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// schema is the part of a Swagger 2.0 schema the check reads.
type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Enum                 []string           `json:"enum"`
	Required             []string           `json:"required"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties *schema            `json:"additionalProperties"`
}

// loadDocument reads metal-api.json at the root of the metal-go module the
// tests are built with.
func loadDocument(t *testing.T) map[string]*schema {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/metal-stack/metal-go").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("the metal-go module's directory is unknown (go list: %v), so its metal-api.json cannot be read", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "metal-api.json"))
	require.NoError(t, err)
	var doc struct {
		Definitions map[string]*schema `json:"definitions"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc.Definitions
}

// conform returns the places where v does not follow s: members the
// document does not name, required members that are missing, values of
// the wrong type, dates that are not RFC 3339, values outside an enum.
func conform(defs map[string]*schema, s *schema, v any, at string) []string {
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/definitions/")
		d, ok := defs[name]
		if !ok {
			return []string{fmt.Sprintf("%s: no definition %s", at, name)}
		}
		return conform(defs, d, v, at+"("+name+")")
	}
	if v == nil {
		return nil // optional members may be null; required ones are checked by the parent
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, at+": "+fmt.Sprintf(format, args...)) }
	switch {
	case s.Properties != nil || s.Type == "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("want an object, got %T", v)
			break
		}
		for _, r := range s.Required {
			if x, ok := obj[r]; !ok || x == nil {
				bad("required member %s is missing", r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch {
			case s.Properties != nil && s.Properties[k] != nil:
				problems = append(problems, conform(defs, s.Properties[k], obj[k], at+"."+k)...)
			case s.AdditionalProperties != nil:
				problems = append(problems, conform(defs, s.AdditionalProperties, obj[k], at+"["+k+"]")...)
			default:
				bad("member %s is not in the document", k)
			}
		}
	case s.Type == "array":
		arr, ok := v.([]any)
		if !ok {
			bad("want an array, got %T", v)
			break
		}
		for i, x := range arr {
			problems = append(problems, conform(defs, s.Items, x, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case s.Type == "string":
		str, ok := v.(string)
		if !ok {
			bad("want a string, got %T", v)
			break
		}
		if s.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				bad("date %q is not RFC 3339", str)
			}
		}
		if len(s.Enum) > 0 && !contains(s.Enum, str) {
			bad("%q is not one of %v", str, s.Enum)
		}
	case s.Type == "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			bad("want an integer, got %v", v)
		}
	case s.Type == "boolean":
		if _, ok := v.(bool); !ok {
			bad("want a boolean, got %T", v)
		}
	}
	return problems
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestResponsesFollowTheDocument checks the JSON of every kind of answer
// of the network, IP, switch and audit routes against the definitions of
// metal-api.json: only members the document names, every required one,
// the document's types, RFC 3339 dates and integer durations.
func TestResponsesFollowTheDocument(t *testing.T) {
	defs := loadDocument(t)
	h := newHarness(t, memstore.New(), nil)
	seedCatalog(t, h.admin(), "p1", "pr1")
	child := releaseFlow(t, h, "p1", "pr1")
	switchFlow(t, h, "p1")
	_, _, err := h.edit().SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(sonicSwitch("leaf02", "p1")), nil)
	require.NoError(t, err)
	_, _, err = h.edit().SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(sonicSwitch("leaf03", "p1")), nil)
	require.NoError(t, err)
	connectMachine(t, h, "m1", "p1", map[string]string{"leaf02": "leaf02-Eth1/1", "leaf03": "leaf03-Eth1/1"})

	for _, c := range []struct {
		method, path, body string
		status             int
		definition         string
		list               bool
	}{
		{http.MethodGet, "/v1/network", ``, 200, "v1.NetworkResponse", true},
		{http.MethodGet, "/v1/network/super", ``, 200, "v1.NetworkResponse", false},
		{http.MethodPost, "/v1/network/find", `{"id": "` + child + `"}`, 200, "v1.NetworkResponse", true},
		{http.MethodPost, "/v1/network/allocate", `{"partitionid": "p1", "projectid": "pr1", "addressfamily": "IPv6"}`, 201, "v1.NetworkResponse", false},
		{http.MethodGet, "/v1/ip", ``, 200, "v1.IPResponse", true},
		{http.MethodGet, "/v1/ip/10.0.0.1", ``, 200, "v1.IPResponse", false},
		{http.MethodPost, "/v1/ip/allocate", `{"networkid": "` + child + `", "projectid": "pr1"}`, 201, "v1.IPResponse", false},
		{http.MethodGet, "/v1/switch", ``, 200, "v1.SwitchResponse", true},
		{http.MethodGet, "/v1/switch/leaf02", ``, 200, "v1.SwitchResponse", false},
		{http.MethodPost, "/v1/switch/leaf02/notify", `{"sync_duration": 1000000, "error": "boom", "port_states": {"Ethernet0": "UP"},
			"bgp_port_states": {"Ethernet0": {"Neighbor": "m1", "PeerGroup": "MACHINE", "VrfName": "vrf20", "BgpState": "Established",
			"BgpTimerUpEstablished": 1700000000, "SentPrefixCounter": 1, "AcceptedPrefixCounter": 2}}}`, 200, "v1.SwitchNotifyResponse", false},
		{http.MethodGet, "/v1/switch/leaf02", ``, 200, "v1.SwitchResponse", false},
		{http.MethodPost, "/v1/audit/find", `{"limit": 20}`, 200, "v1.AuditResponse", true},
	} {
		code, body := h.raw(c.method, c.path, []byte(c.body), api.AuthTypeAdmin, adminKey, time.Now())
		require.Equal(t, c.status, code, "%s %s: %s", c.method, c.path, body)
		requireConforms(t, defs, c.definition, c.list, body, c.method+" "+c.path)
	}
}

// TestMachineResponsesFollowTheDocument checks the JSON of every kind of
// answer of the size, machine, firewall and capacity routes against the
// definitions of metal-api.json, with a machine and a firewall allocated
// and a machine in a crash loop.
func TestMachineResponsesFollowTheDocument(t *testing.T) {
	defs := loadDocument(t)
	l := newMachineLab(t, memstore.New(), nil)
	l.candidate("mach-1", 1, 0)
	l.candidate("mach-2", 2, 0)
	l.register("mach-3", 1, 1, 4)
	_, err := l.h.kit.Machines.Event(l.ctx, "mach-3", "Crashed", "kernel panic")
	require.NoError(t, err)
	alloc, err := json.Marshal(l.allocation("web1"))
	require.NoError(t, err)
	firewall := `{"uuid": "mach-2", "projectid": "pr1", "imageid": "lab-firewall-3.0", "networks": [{"networkid": "` + l.child + `"}],
		"firewall_rules": {"egress": [{"ports": [443], "to": ["0.0.0.0/0"]}], "ingress": [{"protocol": "udp", "ports": [53], "from": ["10.0.0.0/8"], "to": ["10.64.0.0/22"]}]}}`

	for _, c := range []struct {
		method, path, body string
		definition         string
		list               bool
	}{
		{http.MethodPut, "/v1/size/reservations", `{"id": "rv1", "sizeid": "c1-small", "partitionids": ["p1"], "projectid": "pr1", "amount": 1, "labels": {"a": "b"}}`, "v1.SizeReservationResponse", false},
		{http.MethodPost, "/v1/firewall/allocate", firewall, "v1.FirewallResponse", false},
		{http.MethodPost, "/v1/machine/allocate", string(alloc), "v1.MachineResponse", false},
		{http.MethodGet, "/v1/size", ``, "v1.SizeResponse", true},
		{http.MethodGet, "/v1/size/c1-small", ``, "v1.SizeResponse", false},
		{http.MethodPost, "/v1/size/suggest", `{"machineID": "mach-1"}`, "v1.SizeConstraint", true},
		{http.MethodGet, "/v1/size/reservations", ``, "v1.SizeReservationResponse", true},
		{http.MethodPost, "/v1/size/reservations/find", `{"projectid": "pr1"}`, "v1.SizeReservationResponse", true},
		{http.MethodPost, "/v1/size/reservations/usage", `{}`, "v1.SizeReservationUsageResponse", true},
		{http.MethodPost, "/v1/partition/capacity", `{"projectid": null}`, "v1.PartitionCapacity", true},
		{http.MethodGet, "/v1/machine", ``, "v1.MachineResponse", true},
		{http.MethodGet, "/v1/machine/mach-1", ``, "v1.MachineResponse", false},
		{http.MethodPost, "/v1/machine/find", `{"allocation_project": "pr1"}`, "v1.MachineResponse", true},
		{http.MethodGet, "/v1/machine/mach-3/ipmi", ``, "v1.MachineIPMIResponse", false},
		{http.MethodPost, "/v1/machine/ipmi/find", `{}`, "v1.MachineIPMIResponse", true},
		{http.MethodGet, "/v1/machine/issues", ``, "v1.MachineIssue", true},
		{http.MethodPost, "/v1/machine/issues/evaluate", `{}`, "v1.MachineIssueResponse", true},
		{http.MethodGet, "/v1/machine/consolepassword", `{"id": "mach-1", "reason": "a test"}`, "v1.MachineConsolePasswordResponse", false},
		{http.MethodGet, "/v1/firewall", ``, "v1.FirewallResponse", true},
		{http.MethodGet, "/v1/firewall/mach-2", ``, "v1.FirewallResponse", false},
		{http.MethodPost, "/v1/firewall/find", `{}`, "v1.FirewallResponse", true},
		{http.MethodPost, "/v1/machine/mach-3/power/chassis-identify-led-on?description=here", ``, "v1.MachineResponse", false},
		{http.MethodDelete, "/v1/machine/mach-1/free", ``, "v1.MachineResponse", false},
	} {
		code, body := l.h.raw(c.method, c.path, []byte(c.body), api.AuthTypeAdmin, adminKey, time.Now())
		require.Less(t, code, 300, "%s %s: %s", c.method, c.path, body)
		requireConforms(t, defs, c.definition, c.list, body, c.method+" "+c.path)
	}
}

// requireConforms checks that body, the answer of what, is the JSON of
// definition of defs, or with list a non-empty array of it.
func requireConforms(t *testing.T, defs map[string]*schema, definition string, list bool, body []byte, what string) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	s := &schema{Ref: "#/definitions/" + definition}
	if list {
		s = &schema{Type: "array", Items: s}
		require.NotEmpty(t, v, "%s", what)
	}
	require.Empty(t, conform(defs, s, v, what), "%s", body)
}
