package switchstate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

func events(t *testing.T, tr *audit.Trail) []audit.Entry {
	t.Helper()
	res, err := tr.Search(ctx, audit.Filter{Type: audit.TypeEvent, Limit: 1000})
	require.NoError(t, err)
	return res.Entries
}

func details(es []audit.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Detail+" "+e.Path)
	}
	return out
}

// Every committed change of a service call writes one event entry in the
// change's transaction; no-ops, failures and notify (by default) write
// none; the transaction functions write none.
func TestAuditEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		tr, err := audit.New(s, &audit.Options{Component: "metal-api"})
		require.NoError(t, err)
		f := newFixture(t, s, &Options{Trail: tr})
		ctx := audit.NewContext(ctx, audit.Actor{User: "admin", Tenant: "t1", Projects: []string{"p1"}, Admin: true, RequestID: "rq-1"})

		req := switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4))
		_, _, err = f.svc.Register(ctx, req)
		require.NoError(t, err)
		es := events(t, tr)
		require.Len(t, es, 1)
		e := es[0]
		assert.Equal(t, "switch.register", e.Detail)
		assert.Equal(t, "switch/leaf01", e.Path)
		assert.Equal(t, audit.PhaseSingle, e.Phase)
		assert.Equal(t, "rq-1", e.RequestID)
		assert.Equal(t, "admin", e.User)
		assert.Equal(t, "t1", e.Tenant)
		assert.Equal(t, "p1", e.Project)
		assert.Contains(t, string(e.Body), `"partition_id":"fra-equ01"`)

		_, _, err = f.svc.Register(ctx, req)
		require.NoError(t, err)
		assert.Len(t, events(t, tr), 1, "registering the same request again is no change")

		f.register(switchReq("leaf02", "SONiC", "rack01", sonicPorts("leaf02", 0, 4)))
		_, _, err = f.svc.Register(ctx, switchReq("", "SONiC", "rack01", nil))
		require.Error(t, err)
		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{SyncDuration: time.Second, PortStates: map[string]PortState{"Ethernet0": PortUp}})
		require.NoError(t, err)
		_, err = f.svc.Toggle(ctx, "leaf01", "Ethernet4", PortDown)
		require.NoError(t, err)
		_, err = f.svc.Toggle(ctx, "leaf01", "Ethernet4", PortDown)
		require.NoError(t, err)
		_, err = f.svc.Toggle(ctx, "leaf01", "nope", PortDown)
		require.Error(t, err)
		// Transaction functions called by another package write no entry.
		_, _, err = f.connect("m1", on("leaf01", "Ethernet0"), on("leaf02", "Ethernet0"))
		require.NoError(t, err)
		_, err = f.svc.Update(ctx, UpdateRequest{ID: "leaf01", Description: ptr("x"), Mode: ModeOperational})
		require.NoError(t, err)
		_, err = f.svc.Delete(ctx, "leaf01", false)
		require.Error(t, err)
		_, err = f.svc.Delete(ctx, "leaf01", true)
		require.NoError(t, err)

		assert.Equal(t, []string{
			"switch.delete switch/leaf01",
			"switch.update switch/leaf01",
			"switch.toggle switch/leaf01",
			"switch.register switch/leaf02",
			"switch.register switch/leaf01",
		}, details(events(t, tr)))
	})
}

func TestAuditNotifyWhenAsked(t *testing.T) {
	s := storetest.New(t, "memstore")
	tr, err := audit.New(s, nil)
	require.NoError(t, err)
	f := newFixture(t, s, &Options{Trail: tr, AuditNotify: true})
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
	_, err = f.svc.Notify(audit.NewContext(ctx, audit.Actor{RequestID: "rq-n"}), "leaf01", NotifyRequest{SyncDuration: time.Second})
	require.NoError(t, err)
	_, err = f.svc.Notify(ctx, "leaf09", NotifyRequest{})
	require.Error(t, err)
	es := events(t, tr)
	require.Len(t, es, 2)
	assert.Equal(t, "switch.notify", es[0].Detail)
	assert.Equal(t, "rq-n", es[0].RequestID)
}

func TestAuditMigrateRollbackLeavesNoEntry(t *testing.T) {
	s := storetest.New(t, "memstore")
	tr, err := audit.New(s, nil)
	require.NoError(t, err)
	fail := true
	f := newFixture(t, s, &Options{Trail: tr, PortsRenamed: func(backends.Tx, []PortRename) error {
		if fail {
			return ErrConflict
		}
		return nil
	}})
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
	f.register(switchReq("leaf02", "SONiC", "rack01", sonicPorts("leaf02", 0)))
	f.register(switchReq("leaf03", "SONiC", "rack01", sonicPorts("leaf03", 0)))
	_, _, err = f.connect("m1", on("leaf01", "Ethernet0"), on("leaf02", "Ethernet0"))
	require.NoError(t, err)
	_, err = f.svc.Migrate(ctx, "leaf01", "leaf03")
	require.Error(t, err)
	assert.Len(t, events(t, tr), 3)
	fail = false
	_, err = f.svc.Migrate(ctx, "leaf01", "leaf03")
	require.NoError(t, err)
	assert.Equal(t, "switch.migrate switch/leaf03", details(events(t, tr))[0])
}
