package switchstate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// TestInputLimits: ids, names and lists beyond their limits are refused
// with ErrInvalidArgument naming the field, with a bounded message, and
// change nothing.
func TestInputLimits(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4)))
	huge := strings.Repeat("y", 100_000)
	long := func(n int) string { return strings.Repeat("a", n+1) }
	reg := func(mod func(r *RegisterRequest)) func() error {
		return func() error {
			r := switchReq("leaf02", "SONiC", "rack01", sonicPorts("leaf02", 0))
			mod(&r)
			_, _, err := f.svc.Register(ctx, r)
			return err
		}
	}
	cases := []struct {
		name, field string
		op          func() error
	}{
		{"id with NUL", "id", reg(func(r *RegisterRequest) { r.ID = "leaf\x0002" })},
		{"id too long", "id", reg(func(r *RegisterRequest) { r.ID = long(limits.MaxID) })},
		{"id huge", "id", reg(func(r *RegisterRequest) { r.ID = huge })},
		{"id invalid UTF-8", "id", reg(func(r *RegisterRequest) { r.ID = "\xfe" })},
		{"partition with NUL", "partition_id", reg(func(r *RegisterRequest) { r.PartitionID = "a\x00" })},
		{"rack too long", "rack_id", reg(func(r *RegisterRequest) { r.RackID = long(limits.MaxID) })},
		{"name too long", "name", reg(func(r *RegisterRequest) { n := long(limits.MaxName); r.Name = &n })},
		{"description huge", "description", reg(func(r *RegisterRequest) { r.Description = &huge })},
		{"nic name with NUL", "nics[0].name", reg(func(r *RegisterRequest) { r.Nics[0].Name = "Ethernet\x000" })},
		{"nic vrf malformed", "nics[0].vrf", reg(func(r *RegisterRequest) { r.Nics[0].Vrf = "vrfx" })},
		{"too many nics", "nics", reg(func(r *RegisterRequest) { r.Nics = make([]RegisterNic, limits.MaxListItems+1) })},
		{"update: mode huge", "mode", func() error {
			_, err := f.svc.Update(ctx, UpdateRequest{ID: "leaf01", Mode: Mode(huge)})
			return err
		}},
		{"update: console command too long", "console_command", func() error {
			_, err := f.svc.Update(ctx, UpdateRequest{ID: "leaf01", Mode: ModeOperational, ConsoleCommand: long(limits.MaxDescription)})
			return err
		}},
		{"notify: id with NUL", "switch id", func() error { _, err := f.svc.Notify(ctx, "leaf01\x00", NotifyRequest{}); return err }},
		{"get: id too long", "switch id", func() error { _, err := f.svc.Get(ctx, long(limits.MaxID)); return err }},
		{"migrate: old id empty", "old switch id", func() error { _, err := f.svc.Migrate(ctx, "", "leaf01"); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := backendtest.Dump(t, f.store)
			err := c.op()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidArgument)
			assert.ErrorIs(t, err, errdefs.ErrInvalidArgument)
			assert.Contains(t, err.Error(), c.field)
			assert.Less(t, len(err.Error()), 1024, "bounded message: %.300s", err)
			backendtest.Unchanged(t, before, f.store)
		})
	}
}
