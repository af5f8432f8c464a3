package redisstore_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/internal/redistest"
)

// TestCluster runs the conformance suite through a ClusterClient on a
// private three-master Redis Cluster; every store of the suite has its own
// prefix and therefore its own slot.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Redis Cluster test in -short mode")
	}
	client := redistest.ClusterClient(t, redistest.StartCluster(t, 3))

	backendtest.Run(t, func(t *testing.T) backends.Store {
		return newStore(t, client, nil)
	})

	t.Run("StoresSpreadOverMasters", func(t *testing.T) {
		// Many stores land on different masters, while each store keeps
		// all of its keys on one.
		masters := map[string]bool{}
		for i := 0; i < 12; i++ {
			prefix := uniquePrefix()
			s := newStore(t, client, &redisstore.Options{KeyPrefix: prefix})
			require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
				for _, b := range []string{"x", "y", "z"} {
					if err := tx.Put(b, []byte("k"), []byte("v")); err != nil {
						return err
					}
				}
				return nil
			}))
			owners := map[string]bool{}
			require.NoError(t, client.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
				keys, err := node.Keys(ctx, "{"+prefix+"}*").Result()
				if err != nil {
					return err
				}
				if len(keys) > 0 {
					assert.Len(t, keys, 10, "three values, indexes and versions, and the bucket registry")
					owners[node.Options().Addr] = true
				}
				return nil
			}))
			require.Len(t, owners, 1, "store %q spans several masters", prefix)
			for a := range owners {
				masters[a] = true
			}
		}
		assert.Greater(t, len(masters), 1, "twelve stores all on one master")
	})
}
