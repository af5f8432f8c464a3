package ipam_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/ipam"
)

// Every committed change of the service writes one event entry; a failed
// one writes none.
func TestServiceAuditEvents(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	trail, err := audit.New(store, nil)
	require.NoError(t, err)
	s := ipam.New(store, &ipam.Options{Trail: trail})
	ctx = audit.NewContext(ctx, audit.Actor{User: "admin", RequestID: "rq"})
	p := netip.MustParsePrefix("192.0.2.0/30")
	require.NoError(t, s.CreatePrefix(ctx, p))
	a, err := s.AcquireIP(ctx, p)
	require.NoError(t, err)
	_, err = s.AcquireIP(ctx, p)
	require.NoError(t, err)
	_, err = s.AcquireIP(ctx, p)
	require.ErrorIs(t, err, ipam.ErrExhausted)
	require.NoError(t, s.ReleaseIP(ctx, p, a))

	res, err := trail.Search(ctx, audit.Filter{RequestID: "rq"})
	require.NoError(t, err)
	var got []string
	for _, e := range res.Entries {
		assert.Equal(t, audit.TypeEvent, e.Type)
		assert.Equal(t, "admin", e.User)
		got = append(got, e.Detail+" "+e.Path)
	}
	assert.Equal(t, []string{
		"ipam.releaseip prefix/192.0.2.0/30",
		"ipam.acquireip prefix/192.0.2.0/30",
		"ipam.acquireip prefix/192.0.2.0/30",
		"ipam.createprefix prefix/192.0.2.0/30",
	}, got)
}
