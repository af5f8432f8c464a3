package machine_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/metalkit/metalkit/machine"
)

func ExampleIdentify() {
	sizes := []machine.Size{
		{ID: "c1-small", Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: 1, Max: 4}}},
		{ID: "c1-large", Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: 5, Max: 8}}},
		{ID: "g1-large", Constraints: []machine.Constraint{
			{Type: machine.CoreConstraint, Min: 5, Max: 8},
			{Type: machine.GPUConstraint, Min: 1, Max: 1, Identifier: "AD102GL*"},
		}},
	}
	hw := machine.Hardware{CPUs: []machine.CPU{{Model: "Intel Xeon", Cores: 8}}}
	id, matches := machine.Identify(sizes, hw)
	fmt.Println(id, matches)

	hw.GPUs = []machine.GPU{{Vendor: "NVIDIA", Model: "AD102GL [L40S]"}}
	id, matches = machine.Identify(sizes, hw)
	fmt.Println(id, matches)

	hw.CPUs[0].Cores = 16
	id, matches = machine.Identify(sizes, hw)
	fmt.Println(id, matches)
	// Output:
	// c1-large [c1-large]
	// g1-large [g1-large]
	// unknown []
}

func ExampleTransition() {
	start := time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)
	c := machine.EventContainer{ID: "m1"}
	for i, e := range []machine.EventType{
		machine.EventPXEBooting, machine.EventPXEBooting, machine.EventPreparing, machine.EventRegistering,
		machine.EventAlive, machine.EventInstalling, machine.EventCrashed, machine.EventWaiting,
	} {
		var err error
		c, err = machine.Transition(c, machine.ProvisioningEvent{Event: e}, start.Add(time.Duration(i)*time.Minute))
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, e := range c.Events {
		fmt.Printf("%s %s %q\n", e.Time.Format("15:04"), e.Event, e.Message)
	}
	fmt.Println("state:", c.State(), "crash loop:", c.CrashLoop, "last event:", c.LastEventTime.Format("15:04"))
	// Output:
	// 12:07 Waiting "[unexpectedly received in state crashing]"
	// 12:06 Crashed ""
	// 12:05 Installing ""
	// 12:03 Registering ""
	// 12:02 Preparing ""
	// 12:00 PXE Booting ""
	// state: waiting crash loop: true last event: 12:07
}

func ExampleFindIssues() {
	at := time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)
	machines := []machine.Machine{
		{ID: "m1", PartitionID: "fra-equ01", IPMI: machine.IPMI{Address: "10.1.0.1", MacAddress: "aa:00:00:00:00:01"}},
		{ID: "m2", PartitionID: "fra-equ01", IPMI: machine.IPMI{Address: "10.1.0.1", MacAddress: "aa:00:00:00:00:02"}},
		{ID: "m3", PartitionID: "fra-equ01", IPMI: machine.IPMI{Address: "10.1.0.3"}},
	}
	crashed := machine.ProvisioningEvent{Time: at.Add(-2 * time.Hour), Event: machine.EventCrashed}
	containers := map[string]*machine.EventContainer{
		"m1": {ID: "m1", Liveliness: machine.Alive, LastErrorEvent: &crashed},
		"m2": {ID: "m2", Liveliness: machine.Dead},
	}
	found, err := machine.FindIssues(machines, containers, at, machine.IssueParams{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range found {
		for _, i := range m.Issues {
			fmt.Println(strings.TrimSpace(fmt.Sprint(m.MachineID, " ", i.ID, " ", i.Severity, " ", i.Details)))
		}
	}
	// Output:
	// m1 last-event-error minor occurred 2h0m0s ago
	// m1 bmc-no-distinct-ip major BMC address "10.1.0.1" is shared with "m2"
	// m2 liveliness-dead major
	// m2 bmc-no-distinct-ip major BMC address "10.1.0.1" is shared with "m1"
	// m3 no-event-container major
}

func ExampleValidateAllocateRequest() {
	_, err := machine.ValidateAllocateRequest(machine.AllocateRequest{
		ProjectID: "project-a",
		Networks:  []machine.AllocationNetwork{{NetworkID: "internet"}},
		IPs:       []string{"42"},
		Role:      machine.RoleFirewall,
	}, "user@example.com")
	fmt.Println(err)
	// Output:
	// machine: partitionid is required
	// machine: sizeid is required
	// machine: ips[0] "42" is not an IP address
}
