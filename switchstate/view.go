package switchstate

import (
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/metalkit/metalkit/errdefs"
)

// MachineInfo is what the connected-machines view shows of a machine.
type MachineInfo struct {
	Partition     string `json:"partition"`
	Rack          string `json:"rack"`
	Size          string `json:"size"`
	Hostname      string `json:"hostname"`
	ProductSerial string `json:"product_serial"`
	ChassisSerial string `json:"chassis_serial"`
}

// ViewOptions configure ConnectedMachines.
type ViewOptions struct {
	// Wide adds the BGP labels to the NIC column and the Hostname column.
	Wide bool
	// Now is the time the Established durations are measured to.
	Now time.Time
	// MachineID and SizeID, when set, list only the matching connections
	// and omit switches left without one.
	MachineID string
	SizeID    string
}

// Tree prefixes of the connection rows.
const (
	TreeBranch = "├─╴"
	TreeLast   = "└─╴"
)

// Row is one line of the connected-machines view: a switch row (Switch
// true), then its connection rows. The string fields are the columns as
// printed; the raw fields let a renderer colour the states.
type Row struct {
	Switch bool

	ID            string
	NIC           string
	Identifier    string
	Partition     string
	Rack          string
	Size          string
	Hostname      string
	ProductSerial string
	ChassisSerial string

	// SwitchID is the switch of the row; MachineID and Port are set on
	// connection rows.
	SwitchID  string
	MachineID string
	Port      string
	// Actual is the port's observed state, BGPState its BGP session state
	// ("" when none) and BGPStale whether that state is stale.
	Actual   PortState
	BGPState BGPState
	BGPStale bool
}

// ConnectedMachines builds the connected-machines view of switches: a pure
// function of its arguments. Switches are sorted by partition, rack and
// id; each gives a switch row and one row per connection in natural port
// order, the machine id prefixed with TreeBranch, or TreeLast on the last
// row of a switch. Without filters, a connection to a machine missing from
// machines is an error.
func ConnectedMachines(switches []*Switch, machines map[string]MachineInfo, opts ViewOptions) ([]Row, error) {
	sorted := slices.Clone(switches)
	slices.SortFunc(sorted, compareSwitches)
	filtered := opts.MachineID != "" || opts.SizeID != ""
	total := len(switches)
	for i := range switches {
		total += len(switches[i].Connections)
	}
	rows := make([]Row, 0, total)
	for _, sw := range sorted {
		ports := make(map[string]*Nic, len(sw.Nics))
		for i := range sw.Nics {
			ports[sw.Nics[i].Name] = &sw.Nics[i]
		}
		// Sort indexes, not the (large) connection values.
		order := make([]int, len(sw.Connections))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			ca, cb := &sw.Connections[a], &sw.Connections[b]
			if c := ComparePortNames(ca.Nic.Name, cb.Nic.Name); c != 0 {
				return c
			}
			if c := strings.Compare(ca.MachineID, cb.MachineID); c != 0 {
				return c
			}
			return cmpInt(a, b)
		})
		head := len(rows)
		rows = append(rows, Row{Switch: true, ID: sw.ID, Partition: sw.PartitionID, Rack: sw.RackID, SwitchID: sw.ID})
		for _, i := range order {
			c := &sw.Connections[i]
			m, known := machines[c.MachineID]
			if opts.MachineID != "" && c.MachineID != opts.MachineID {
				continue
			}
			if opts.SizeID != "" && (!known || m.Size != opts.SizeID) {
				continue
			}
			if !known && !filtered {
				return nil, errdefs.Errorf(ErrNotFound, "switchstate: switch port %s is connected to a machine which does not exist: %q", c.Nic.Name, c.MachineID)
			}
			port := c.Nic
			if p, ok := ports[c.Nic.Name]; ok {
				port = *p
			}
			rows = append(rows, Row{
				ID: c.MachineID, NIC: nicLabel(port, opts), Identifier: port.EffectiveIdentifier(),
				Partition: m.Partition, Rack: m.Rack, Size: m.Size, Hostname: m.Hostname,
				ProductSerial: m.ProductSerial, ChassisSerial: m.ChassisSerial,
				SwitchID: sw.ID, MachineID: c.MachineID, Port: port.Name, Actual: actualOf(port),
			})
			if b := port.BGPPortState; b != nil {
				r := &rows[len(rows)-1]
				r.BGPState, r.BGPStale = b.BgpState, b.Stale
			}
		}
		crow := rows[head+1:]
		if filtered && len(crow) == 0 {
			rows = rows[:head]
			continue
		}
		for i := range crow {
			if i == len(crow)-1 {
				crow[i].ID = TreeLast + crow[i].ID
			} else {
				crow[i].ID = TreeBranch + crow[i].ID
			}
		}
	}
	return rows, nil
}

func actualOf(n Nic) PortState {
	if n.Actual == "" {
		return PortUnknown
	}
	return n.Actual
}

// nicLabel is the NIC column: the port name, " (<STATE>)" unless the port
// is UP, and in wide mode the BGP label.
func nicLabel(n Nic, opts ViewOptions) string {
	label := n.Name
	if a := actualOf(n); a != PortUp {
		label += " (" + string(a) + ")"
	}
	b := n.BGPPortState
	if !opts.Wide || b == nil {
		return label
	}
	switch {
	case b.Stale:
		return label + " (BGP:stale)"
	case b.BgpState != BGPEstablished:
		return label + " (BGP:" + string(b.BgpState) + ")"
	case b.BgpTimerUpEstablished == 0:
		return label + " (BGP:Established)"
	}
	d := opts.Now.Sub(time.Unix(b.BgpTimerUpEstablished, 0)).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return label + " (BGP:Established(" + d.String() + "))"
}

// RenderConnectedMachines prints rows as a plain-text table with aligned
// columns, as metalctl's `switch connected-machines` does: ID, NIC NAME,
// IDENTIFIER, PARTITION, RACK, SIZE, (HOSTNAME in wide mode,) PRODUCT
// SERIAL, CHASSIS SERIAL. Columns are separated by three spaces; lines
// carry no trailing blanks.
func RenderConnectedMachines(w io.Writer, rows []Row, wide bool) error {
	header := []string{"ID", "NIC NAME", "IDENTIFIER", "PARTITION", "RACK", "SIZE"}
	if wide {
		header = append(header, "HOSTNAME")
	}
	header = append(header, "PRODUCT SERIAL", "CHASSIS SERIAL")
	table := [][]string{header}
	for _, r := range rows {
		line := []string{r.ID, r.NIC, r.Identifier, r.Partition, r.Rack, r.Size}
		if wide {
			line = append(line, r.Hostname)
		}
		table = append(table, append(line, r.ProductSerial, r.ChassisSerial))
	}
	widths := make([]int, len(header))
	for _, line := range table {
		for i, cell := range line {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, line := range table {
		var l strings.Builder
		for i, cell := range line {
			l.WriteString(cell)
			if i < len(line)-1 {
				l.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+3))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
