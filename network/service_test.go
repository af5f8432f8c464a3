package network_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/network"
)

// catalog knows one partition and one project.
type catalog struct {
	network.AcceptAll
	calls int
}

func (c *catalog) Partition(_ context.Context, id string) error {
	c.calls++
	if id != "fra" {
		return fmt.Errorf("partition %q: %w", id, network.ErrNotFound)
	}
	return nil
}

func (c *catalog) Project(_ context.Context, id string) error {
	c.calls++
	if id != "p" {
		return fmt.Errorf("project %q: %w", id, network.ErrNotFound)
	}
	return nil
}

func TestCatalogHook(t *testing.T) {
	tr := memstore.New()
	cat := &catalog{}
	svc := network.New(tr, &network.Options{Catalog: cat})
	before := backendtest.Dump(t, tr)
	_, err := svc.Create(ctx, network.CreateRequest{PartitionID: "ams", PrivateSuper: true, Prefixes: pfx("10.0.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}})
	require.ErrorIs(t, err, network.ErrNotFound)
	assert.Contains(t, err.Error(), `partitionid "ams"`)
	assert.Equal(t, before, backendtest.Dump(t, tr))

	_, err = svc.Create(ctx, network.CreateRequest{ID: "super", PartitionID: "fra", PrivateSuper: true, Prefixes: pfx("10.0.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}})
	require.NoError(t, err)
	before = backendtest.Dump(t, tr)
	_, err = svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "q"})
	require.ErrorIs(t, err, network.ErrNotFound)
	assert.Contains(t, err.Error(), `projectid "q"`)
	assert.Equal(t, before, backendtest.Dump(t, tr))
	child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	_, err = svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "q"})
	require.ErrorIs(t, err, network.ErrNotFound)
	assert.Positive(t, cat.calls)

	// Without a catalog every id is accepted.
	open := network.New(memstore.New(), nil)
	_, err = open.Create(ctx, network.CreateRequest{PartitionID: "anything", PrivateSuper: true, Prefixes: pfx("10.0.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}})
	require.NoError(t, err)
}

// Every committed change writes exactly one event entry with the actor's
// request id; a failed one writes none.
func TestAuditEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		trail, err := audit.New(s, &audit.Options{Component: "test"})
		require.NoError(t, err)
		svc := network.New(s, &network.Options{Trail: trail, IDs: sequentialIDs("id")})
		ctx := audit.NewContext(ctx, audit.Actor{User: "alice", Tenant: "t", Projects: []string{"p"}, Admin: true, RequestID: "rq-1"})

		_, err = svc.Create(ctx, network.CreateRequest{ID: "super", PartitionID: "fra", PrivateSuper: true, Prefixes: pfx("10.0.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}})
		require.NoError(t, err)
		child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
		require.NoError(t, err)
		ip, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
		require.NoError(t, err)
		_, err = svc.Free(ctx, child.ID)
		require.ErrorIs(t, err, network.ErrConflict, "the child holds an IP")
		_, err = svc.FreeIP(ctx, ip.IPAddress)
		require.NoError(t, err)

		res, err := trail.Search(ctx, audit.Filter{RequestID: "rq-1"})
		require.NoError(t, err)
		var got []string
		for _, e := range res.Entries {
			assert.Equal(t, audit.Type("event"), e.Type)
			assert.Equal(t, "alice", e.User)
			got = append(got, e.Detail+" "+e.Path)
		}
		assert.Equal(t, []string{
			"ip.free ip/10.0.0.1",
			"ip.allocate ip/10.0.0.1",
			"network.allocatechild network/" + child.ID,
			"network.create network/super",
		}, got, "newest first; the failed free wrote nothing")

		res, err = trail.Search(ctx, audit.Filter{Detail: "network.create"})
		require.NoError(t, err)
		require.Len(t, res.Entries, 1)
		assert.Contains(t, string(res.Entries[0].Body), `"10.0.0.0/16"`)
	})
}

// TestScopingWithoutATrail: a service without an audit trail scopes its
// callers all the same.
func TestScopingWithoutATrail(t *testing.T) {
	s := memstore.New()
	svc := network.New(s, nil)
	scoped := audit.NewContext(ctx, audit.Actor{User: "bob", Projects: []string{"p"}})
	before := backendtest.Dump(t, s)
	_, err := svc.Create(scoped, network.CreateRequest{ID: "super", PartitionID: "fra", PrivateSuper: true, Prefixes: pfx("10.0.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}})
	require.ErrorIs(t, err, errdefs.ErrForbidden)
	backendtest.Unchanged(t, before, s)
}
