package machine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/machine"
)

// healthy returns a machine without any issue, and its container.
func healthy(id, bmc string) (machine.Machine, *machine.EventContainer) {
	m := machine.Machine{ID: id, PartitionID: "p1", IPMI: machine.IPMI{Address: bmc, MacAddress: "aa:bb:cc:00:00:01"}}
	c := &machine.EventContainer{ID: id, Liveliness: machine.Alive, LastEventTime: ago(time.Minute),
		Events: []machine.ProvisioningEvent{ev(machine.EventWaiting, ago(time.Minute))}}
	return m, c
}

func firewall(id string, asns ...uint32) machine.Machine {
	m, _ := healthy(id, "10.0.0."+id)
	m.Allocation = &machine.Allocation{Role: machine.RoleFirewall}
	for _, a := range asns {
		m.Allocation.Networks = append(m.Allocation.Networks, machine.MachineNetwork{ASN: a})
	}
	return m
}

func issueIDs(mi []machine.MachineIssues) map[string][]machine.IssueType {
	out := map[string][]machine.IssueType{}
	for _, m := range mi {
		for _, i := range m.Issues {
			out[m.MachineID] = append(out[m.MachineID], i.ID)
		}
	}
	return out
}

func TestFindIssuesEachType(t *testing.T) {
	type setup func(m *machine.Machine, c **machine.EventContainer)
	for _, tc := range []struct {
		id      machine.IssueType
		sev     machine.Severity
		setup   setup
		details string
	}{
		{machine.IssueNoEventContainer, machine.SeverityMajor, func(m *machine.Machine, c **machine.EventContainer) {
			*c = nil
			m.PartitionID = "" // not evaluated without a container
		}, ""},
		{machine.IssueNoPartition, machine.SeverityMajor, func(m *machine.Machine, c **machine.EventContainer) { m.PartitionID = "" }, ""},
		{machine.IssueLivelinessDead, machine.SeverityMajor, func(m *machine.Machine, c **machine.EventContainer) { (*c).Liveliness = machine.Dead }, ""},
		{machine.IssueLivelinessUnknown, machine.SeverityMajor, func(m *machine.Machine, c **machine.EventContainer) { (*c).Liveliness = machine.Unknown }, ""},
		{machine.IssueLivelinessNotAvailable, machine.SeverityMinor, func(m *machine.Machine, c **machine.EventContainer) { (*c).Liveliness = "" }, ""},
		{machine.IssueFailedMachineReclaim, machine.SeverityCritical, func(m *machine.Machine, c **machine.EventContainer) { (*c).FailedMachineReclaim = true }, ""},
		{machine.IssueFailedMachineReclaim, machine.SeverityCritical, func(m *machine.Machine, c **machine.EventContainer) {
			(*c).Events = []machine.ProvisioningEvent{ev(machine.EventPhonedHome, ago(time.Minute))} // free and phoned home
		}, ""},
		{machine.IssueCrashLoop, machine.SeverityMajor, func(m *machine.Machine, c **machine.EventContainer) {
			(*c).CrashLoop = true
			(*c).Events = []machine.ProvisioningEvent{ev(machine.EventPXEBooting, ago(time.Minute))}
		}, ""},
		{machine.IssueLastEventError, machine.SeverityMinor, func(m *machine.Machine, c **machine.EventContainer) {
			e := ev(machine.EventCrashed, ago(90*time.Minute+400*time.Millisecond))
			(*c).LastErrorEvent = &e
		}, "occurred 1h30m0s ago"},
		{machine.IssueBMCWithoutMAC, machine.SeverityMajor, func(m *machine.Machine, c **machine.EventContainer) { m.IPMI.MacAddress = "" }, ""},
		{machine.IssueBMCWithoutIP, machine.SeverityMajor, func(m *machine.Machine, c **machine.EventContainer) { m.IPMI.Address = "" }, ""},
		{machine.IssueBMCNoDistinctIP, machine.SeverityMajor, func(m *machine.Machine, c **machine.EventContainer) { m.IPMI.Address = "10.1.0.2" }, `BMC address "10.1.0.2" is shared with "other"`},
	} {
		t.Run(string(tc.id), func(t *testing.T) {
			m, c := healthy("m1", "10.1.0.1")
			other, oc := healthy("other", "10.1.0.2")
			tc.setup(&m, &c)
			containers := map[string]*machine.EventContainer{"other": oc}
			if c != nil {
				containers["m1"] = c
			}
			got, err := machine.FindIssues([]machine.Machine{other, m}, containers, now, machine.IssueParams{})
			require.NoError(t, err)
			require.Len(t, got, 1+boolToInt(tc.id == machine.IssueBMCNoDistinctIP), "%+v", got)
			mi := got[0]
			if mi.MachineID != "m1" {
				mi = got[1]
			}
			require.Equal(t, "m1", mi.MachineID)
			require.Len(t, mi.Issues, 1, "%+v", mi.Issues)
			assert.Equal(t, tc.id, mi.Issues[0].ID)
			assert.Equal(t, tc.sev, mi.Issues[0].Severity)
			assert.NotEmpty(t, mi.Issues[0].Description)
			if tc.details != "" {
				assert.Equal(t, tc.details, mi.Issues[0].Details)
			}
		})
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestFindIssuesNoCrashLoopWhileWaiting(t *testing.T) {
	m, c := healthy("m1", "10.1.0.1")
	c.CrashLoop = true // newest event is Waiting
	got, err := machine.FindIssues([]machine.Machine{m}, map[string]*machine.EventContainer{"m1": c}, now, machine.IssueParams{})
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestFindIssuesASN(t *testing.T) {
	fw1, fw2, fw3 := firewall("1", 4210000001, 4210000002), firewall("2", 4210000001), firewall("3", 4210000003)
	m, _ := healthy("m", "10.0.0.9")
	m.Allocation = &machine.Allocation{Role: machine.RoleMachine, Networks: []machine.MachineNetwork{{ASN: 4210000003}}}
	containers := map[string]*machine.EventContainer{}
	for _, x := range []machine.Machine{fw1, fw2, fw3, m} {
		_, containers[x.ID] = healthy(x.ID, "")
	}
	got, err := machine.FindIssues([]machine.Machine{fw3, fw2, m, fw1}, containers, now, machine.IssueParams{})
	require.NoError(t, err)
	assert.Equal(t, map[string][]machine.IssueType{"1": {machine.IssueASNNotUnique}, "2": {machine.IssueASNNotUnique}}, issueIDs(got),
		"a machine sharing fw3's ASN is no firewall")
	assert.Equal(t, "1", got[0].MachineID, "sorted by machine id")
	assert.Equal(t, `ASN 4210000001 is shared with "2"`, got[0].Issues[0].Details)
}

func TestFindIssuesParameters(t *testing.T) {
	// m1: no partition (major), last-event-error (minor); m2: failed reclaim
	// (critical), crash loop (major); m3: no container (major).
	m1, c1 := healthy("m1", "10.1.0.1")
	m1.PartitionID = ""
	e := ev(machine.EventCrashed, ago(3*24*time.Hour))
	c1.LastErrorEvent = &e
	m2, c2 := healthy("m2", "10.1.0.2")
	c2.FailedMachineReclaim, c2.CrashLoop = true, true
	c2.Events = []machine.ProvisioningEvent{ev(machine.EventPreparing, ago(time.Minute))}
	m3, _ := healthy("m3", "10.1.0.3")
	machines := []machine.Machine{m3, m2, m1}
	containers := map[string]*machine.EventContainer{"m1": c1, "m2": c2}

	for _, tc := range []struct {
		name string
		p    machine.IssueParams
		want map[string][]machine.IssueType
	}{
		{"all", machine.IssueParams{}, map[string][]machine.IssueType{
			"m1": {machine.IssueNoPartition, machine.IssueLastEventError},
			"m2": {machine.IssueFailedMachineReclaim, machine.IssueCrashLoop},
			"m3": {machine.IssueNoEventContainer},
		}},
		{"major and up", machine.IssueParams{Severity: machine.SeverityMajor}, map[string][]machine.IssueType{
			"m1": {machine.IssueNoPartition},
			"m2": {machine.IssueFailedMachineReclaim, machine.IssueCrashLoop},
			"m3": {machine.IssueNoEventContainer},
		}},
		{"critical", machine.IssueParams{Severity: "CRITICAL"}, map[string][]machine.IssueType{"m2": {machine.IssueFailedMachineReclaim}}},
		{"only", machine.IssueParams{Only: []machine.IssueType{machine.IssueCrashLoop, machine.IssueNoPartition}}, map[string][]machine.IssueType{
			"m1": {machine.IssueNoPartition},
			"m2": {machine.IssueCrashLoop},
		}},
		{"omit wins over only", machine.IssueParams{Only: []machine.IssueType{machine.IssueCrashLoop, machine.IssueNoPartition}, Omit: []machine.IssueType{machine.IssueCrashLoop}},
			map[string][]machine.IssueType{"m1": {machine.IssueNoPartition}}},
		{"machine ids", machine.IssueParams{MachineIDs: []string{"m2", "absent"}}, map[string][]machine.IssueType{
			"m2": {machine.IssueFailedMachineReclaim, machine.IssueCrashLoop},
		}},
		{"threshold shorter than the error's age", machine.IssueParams{LastErrorThreshold: 24 * time.Hour, Only: []machine.IssueType{machine.IssueLastEventError}},
			map[string][]machine.IssueType{}},
		{"threshold longer", machine.IssueParams{LastErrorThreshold: 4 * 24 * time.Hour, Only: []machine.IssueType{machine.IssueLastEventError}},
			map[string][]machine.IssueType{"m1": {machine.IssueLastEventError}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := machine.FindIssues(machines, containers, now, tc.p)
			require.NoError(t, err)
			assert.Equal(t, tc.want, issueIDs(got))
		})
	}

	// The default threshold is seven days.
	old := ev(machine.EventCrashed, ago(8*24*time.Hour))
	c1.LastErrorEvent = &old
	got, err := machine.FindIssues(machines, containers, now, machine.IssueParams{Only: []machine.IssueType{machine.IssueLastEventError}})
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = machine.FindIssues(machines, containers, now, machine.IssueParams{Severity: "fatal", Only: []machine.IssueType{"crash"}, Omit: []machine.IssueType{"x"}, LastErrorThreshold: -1})
	requireProblems(t, err, machine.ErrInvalidArgument, `severity "fatal"`, `only[0] "crash"`, `omit[0] "x"`, "last_error_threshold -1ns is negative")
}

func TestIssueSpecs(t *testing.T) {
	specs := machine.IssueSpecs()
	require.Len(t, specs, 12)
	assert.Equal(t, machine.IssueNoEventContainer, specs[0].ID)
	specs[0].ID = "changed"
	assert.Equal(t, machine.IssueNoEventContainer, machine.IssueSpecs()[0].ID, "a copy")
}

// BenchmarkFindIssues evaluates 1000 machines, a tenth of them firewalls.
func BenchmarkFindIssues(b *testing.B) {
	var machines []machine.Machine
	containers := map[string]*machine.EventContainer{}
	for i := range 1000 {
		id := fmt.Sprintf("m%04d", i)
		m, c := healthy(id, fmt.Sprintf("10.1.%d.%d", i/250, i%250))
		if i%10 == 0 {
			m = firewall(id, 4210000000+uint32(i%37))
		}
		machines = append(machines, m)
		containers[id] = c
	}
	for b.Loop() {
		if _, err := machine.FindIssues(machines, containers, now, machine.IssueParams{}); err != nil {
			b.Fatal(err)
		}
	}
}
