package metalkit_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/network"
)

// Open composes every service over one store; changes are recorded in the
// audit trail of the same store.
func ExampleOpen() {
	ctx := context.Background()
	kit, err := metalkit.Open(memstore.New(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kit.Close()

	ctx = audit.NewContext(ctx, audit.Actor{User: "admin", RequestID: "req-1"})
	_, err = kit.Networks.Create(ctx, network.CreateRequest{
		ID:                       "super",
		PartitionID:              "fra-equ01",
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
		DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22, network.IPv6: 96},
		PrivateSuper:             true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	child, err := kit.Networks.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(child.Prefixes)

	res, err := kit.Trail.Search(ctx, audit.Filter{RequestID: "req-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range res.Entries {
		fmt.Println(e.Type, e.Detail, e.User)
	}
	// Output:
	// [10.0.0.0/22 2001:db8:0:10::/96]
	// event network.allocatechild admin
	// event network.create admin
}

func TestOpenRejectsNilStore(t *testing.T) {
	_, err := metalkit.Open(nil, nil)
	require.Error(t, err)
}

func TestOpenWithSeparateAuditStore(t *testing.T) {
	ctx := context.Background()
	auditStore := memstore.New()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "kit.db"), nil)
	require.NoError(t, err)
	kit, err := metalkit.Open(store, &metalkit.Options{AuditStore: auditStore})
	require.NoError(t, err)
	_, err = kit.Networks.Create(ctx, network.CreateRequest{ID: "ext", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	require.NoError(t, err)
	res, err := kit.Trail.Search(ctx, audit.Filter{Detail: "network.create"})
	require.NoError(t, err)
	assert.Len(t, res.Entries, 1)
	require.NoError(t, kit.Close())
	assert.Error(t, auditStore.Close(), "Kit.Close closes the audit store too")

	kit, err = metalkit.Open(memstore.New(), &metalkit.Options{NoAudit: true})
	require.NoError(t, err)
	assert.Nil(t, kit.Trail)
	_, err = kit.Networks.Create(ctx, network.CreateRequest{ID: "ext", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	require.NoError(t, err)
}
