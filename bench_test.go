package metalkit_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/network"
)

// BenchmarkCheck measures a full consistency check of a store holding a
// /16 network full of IPs: one op is one Kit.Check (dry run).
func BenchmarkCheck(b *testing.B) {
	b.Run("memstore/ips=60000", func(b *testing.B) {
		ctx := context.Background()
		s := memstore.New()
		kit, err := metalkit.Open(s, &metalkit.Options{NoAudit: true})
		require.NoError(b, err)
		_, err = kit.Networks.Create(ctx, network.CreateRequest{ID: "big", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}})
		require.NoError(b, err)
		env := network.Env{Now: time.Now().UTC(), NewID: func() string { return "a" }}
		for done := 0; done < 60000; done += 5000 {
			require.NoError(b, s.Update(ctx, func(tx backends.Tx) error {
				for i := range 5000 {
					if _, err := network.AllocateIPTx(tx, env, network.AllocateIPRequest{NetworkID: "big", ProjectID: fmt.Sprint("p", (done+i)%7)}); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		rep, err := kit.Check(ctx, &check.Options{})
		require.NoError(b, err)
		require.Empty(b, rep.Findings)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kit.Check(ctx, &check.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
