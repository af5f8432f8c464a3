package network_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/network"
)

// childWithIPs creates a super network over super with the given default
// child length, a child network of it for project "p" and n IPs in the
// child (see allocateIPs).
func childWithIPs(tb testing.TB, st backends.Store, super string, bits, n int) (*network.Service, *network.Network) {
	tb.Helper()
	svc := network.New(st, nil)
	_, err := svc.Create(ctx, network.CreateRequest{PartitionID: "fra", PrivateSuper: true,
		Prefixes: pfx(super), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: bits}})
	require.NoError(tb, err)
	child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(tb, err)
	allocateIPs(tb, st, svc, child, n)
	return svc, child
}

// allocateIPs allocates n IPs of child for project "p", in transactions of
// up to 500 through the bound form.
func allocateIPs(tb testing.TB, st backends.Store, svc *network.Service, child *network.Network, n int) {
	tb.Helper()
	for done := 0; done < n; {
		batch := min(500, n-done)
		require.NoError(tb, st.Update(ctx, func(tx backends.Tx) error {
			t := svc.Bind(ctx, tx, nil)
			for range batch {
				if _, err := t.AllocateIP(network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", Name: "bench"}); err != nil {
					return err
				}
			}
			return nil
		}))
		done += batch
	}
}

// BenchmarkListIPs: one op lists the 4000 IPs of a child network, in one
// View, on each store.
func BenchmarkListIPs(b *testing.B) {
	for _, f := range storetest.Factories() {
		b.Run(f.Name, func(b *testing.B) {
			b.Run("ips=4000", func(b *testing.B) {
				svc, child := childWithIPs(b, f.New(b), "10.0.0.0/16", 20, 4000)
				b.ResetTimer()
				for range b.N {
					ips, err := svc.ListIPs(ctx, network.IPFilter{NetworkID: child.ID})
					if err != nil {
						b.Fatal(err)
					}
					if len(ips) != 4000 {
						b.Fatalf("listed %d IPs, want 4000", len(ips))
					}
				}
			})
		})
	}
}

// BenchmarkFootprint allocates 60,000 IPs in one child network through the
// service, one transaction each, and reports what the store holds per IP:
// "stored-B/ip" is the bbolt file, the Redis memory of the store's keys
// (MEMORY USAGE) or the live Go heap of memstore; "record-B/ip" the bytes of
// the stored IP records (value of each IP's key); "data-B/ip" every key and
// value of every bucket. Run it with -benchtime=1x.
func BenchmarkFootprint(b *testing.B) {
	const n = 60000
	for _, f := range storetest.Factories() {
		b.Run(f.Name, func(b *testing.B) {
			b.Run(fmt.Sprintf("ips=%d", n), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					st := f.New(b)
					svc := network.New(st, nil)
					_, err := svc.Create(ctx, network.CreateRequest{PartitionID: "fra", PrivateSuper: true,
						Prefixes: pfx("10.0.0.0/8"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 16}})
					require.NoError(b, err)
					child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
					require.NoError(b, err)
					heapBefore := liveHeap()
					b.StartTimer()
					for range n {
						if _, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"}); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					stored := storetest.StorageBytes(b, st)
					if stored == 0 {
						stored = liveHeap() - heapBefore
					}
					snap := backendtest.Dump(b, st)
					var record, data int
					for bucket, kv := range snap {
						for k, v := range kv {
							data += len(k) + len(v)
							if bucket == "network/ips" {
								record += len(v)
							}
						}
					}
					b.ReportMetric(float64(stored)/n, "stored-B/ip")
					b.ReportMetric(float64(record)/n, "record-B/ip")
					b.ReportMetric(float64(data)/n, "data-B/ip")
					if f.Name == "boltstore" && stored > int64(2*record) {
						b.Errorf("the bbolt file takes %.0f bytes per IP, more than twice the %.0f bytes of its record", float64(stored)/n, float64(record)/n)
					}
					runtime.KeepAlive(st)
				}
			})
		})
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkAllocateChildNetwork: one op allocates a dual-stack child
// network of a super network (10.0.0.0/8 and 2001:db8::/48, defaults /24
// and /64) that already has 1000 children, and frees it again. The row
// "engine" runs just the engine operations such a child rests on, on the
// same store shape: a child prefix of each family and a VRF in one
// transaction, their release in another.
func BenchmarkAllocateChildNetwork(b *testing.B) {
	b.Run("memstore/children=1000", func(b *testing.B) {
		svc := network.New(memstore.New(), nil)
		_, err := svc.Create(ctx, network.CreateRequest{PartitionID: "fra", PrivateSuper: true,
			Prefixes:                 pfx("10.0.0.0/8", "2001:db8::/48"),
			DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 24, network.IPv6: 64}})
		require.NoError(b, err)
		for i := 0; i < 1000; i++ {
			_, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
			require.NoError(b, err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			n, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Free(ctx, n.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("engine/memstore/children=1000", func(b *testing.B) {
		st := memstore.New()
		v4, v6 := netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/48")
		const pool = "bench/vrf"
		type child struct {
			c4, c6 netip.Prefix
			vrf    uint64
		}
		acquire := func(tx backends.Tx) (c child, err error) {
			if c.c4, err = ipam.AcquireChild(tx, v4, 24); err != nil {
				return c, err
			}
			if c.c6, err = ipam.AcquireChild(tx, v6, 64); err != nil {
				return c, err
			}
			c.vrf, err = ipam.AcquireInt(tx, pool)
			return c, err
		}
		require.NoError(b, st.Update(ctx, func(tx backends.Tx) error {
			if err := ipam.CreatePrefix(tx, v4); err != nil {
				return err
			}
			if err := ipam.CreatePrefix(tx, v6); err != nil {
				return err
			}
			if err := ipam.CreatePool(tx, pool, network.MinVRF, network.MaxVRF); err != nil {
				return err
			}
			for range 1000 {
				if _, err := acquire(tx); err != nil {
					return err
				}
			}
			return nil
		}))
		b.ResetTimer()
		for range b.N {
			var c child
			if err := st.Update(ctx, func(tx backends.Tx) (err error) {
				c, err = acquire(tx)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if err := st.Update(ctx, func(tx backends.Tx) error {
				if err := ipam.ReleaseChild(tx, v4, c.c4); err != nil {
					return err
				}
				if err := ipam.ReleaseChild(tx, v6, c.c6); err != nil {
					return err
				}
				return ipam.ReleaseInt(tx, pool, c.vrf)
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAllocateIP: one op allocates the next free IP of a child
// network holding 1000 IPs and frees it again.
func BenchmarkAllocateIP(b *testing.B) {
	for _, f := range storetest.Factories() {
		b.Run(f.Name, func(b *testing.B) {
			svc := network.New(f.New(b), nil)
			_, err := svc.Create(ctx, network.CreateRequest{PartitionID: "fra", PrivateSuper: true,
				Prefixes: pfx("10.0.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 20}})
			require.NoError(b, err)
			child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
			require.NoError(b, err)
			for i := 0; i < 1000; i++ {
				_, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
				require.NoError(b, err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ip, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := svc.FreeIP(ctx, ip.IPAddress); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
