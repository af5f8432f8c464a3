package ipam

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	goipam "github.com/metal-stack/go-ipam"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/redistest"
	"github.com/metalkit/metalkit/internal/storetest"
)

// benchStore returns a new store of the named adapter, or skips when the
// adapter is not in the table.
func benchStore(b *testing.B, name string) backends.Store {
	for _, f := range storetest.Factories() {
		if f.Name == name {
			return f.New(b)
		}
	}
	b.Skipf("adapter %s is not available", name)
	return nil
}

// fill runs n calls of op in transactions of up to 1000 calls each.
func fill(tb testing.TB, st backends.Store, n int, op func(tx backends.Tx) error) {
	tb.Helper()
	for done := 0; done < n; {
		batch := min(1000, n-done)
		update(tb, st, func(tx backends.Tx) error {
			for range batch {
				if err := op(tx); err != nil {
					return err
				}
			}
			return nil
		})
		done += batch
	}
}

// goipamOver returns a go-ipam on the named storage ("memory", or "redis"
// on a private redis-server) holding the state of st, preloaded through
// its Load of an export: filling it through its own API would take
// minutes at 60,000 addresses.
func goipamOver(b *testing.B, storage string, st backends.Store) goipam.Ipamer {
	b.Helper()
	var gi goipam.Ipamer
	switch storage {
	case "memory":
		gi = goipam.New(ctx)
	case "redis":
		host, port, err := net.SplitHostPort(redistest.Start(b).Addr)
		require.NoError(b, err)
		s, err := goipam.NewRedis(ctx, host, port)
		require.NoError(b, err)
		gi = goipam.NewWithStorage(s)
	default:
		b.Fatalf("no go-ipam storage %q", storage)
	}
	require.NoError(b, gi.Load(ctx, string(exportFrom(b, st))))
	return gi
}

// probe runs fn in an Update that is rolled back.
func probe(b *testing.B, st backends.Store, fn func(tx backends.Tx) error) {
	b.Helper()
	require.ErrorIs(b, st.Update(ctx, func(tx backends.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errRollback
	}), errRollback)
}

// withIPs returns a memstore holding p with used IPs taken.
func withIPs(b *testing.B, p netip.Prefix, used int) backends.Store {
	st := newMem(b)
	update(b, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
	fill(b, st, used, func(tx backends.Tx) error { _, err := AcquireIP(tx, p); return err })
	return st
}

// withChildren returns a memstore holding p with n children of length bits
// taken.
func withChildren(b *testing.B, p netip.Prefix, bits, n int) backends.Store {
	st := newMem(b)
	update(b, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
	fill(b, st, n, func(tx backends.Tx) error { _, err := AcquireChild(tx, p, bits); return err })
	return st
}

// BenchmarkAcquireReleaseIP: one op acquires the next free IP of a
// 10.0.0.0/16 that already holds `used` IPs and releases it again, each in
// its own transaction (go-ipam: its AcquireIP and ReleaseIPFromPrefix).
func BenchmarkAcquireReleaseIP(b *testing.B) {
	p := pfx("10.0.0.0/16")
	useds := []int{1000, 60000}
	b.Run("goipam", func(b *testing.B) {
		for _, storage := range []string{"memory", "redis"} {
			b.Run(storage, func(b *testing.B) {
				for _, used := range useds {
					b.Run(fmt.Sprintf("used=%d", used), func(b *testing.B) {
						st := withIPs(b, p, used)
						var want netip.Addr
						probe(b, st, func(tx backends.Tx) (err error) { want, err = AcquireIP(tx, p); return err })
						gi := goipamOver(b, storage, st)
						for b.Loop() {
							ip, err := gi.AcquireIP(ctx, p.String())
							if err != nil {
								b.Fatal(err)
							}
							if ip.IP != want {
								b.Fatalf("go-ipam placed %s, metalkit places %s", ip.IP, want)
							}
							if err := gi.ReleaseIPFromPrefix(ctx, p.String(), ip.IP.String()); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			})
		}
	})
	b.Run("metalkit", func(b *testing.B) {
		for _, store := range []string{"memstore", "boltstore", "redisstore"} {
			b.Run(store, func(b *testing.B) {
				for _, used := range useds {
					b.Run(fmt.Sprintf("used=%d", used), func(b *testing.B) {
						st := benchStore(b, store)
						update(b, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
						fill(b, st, used, func(tx backends.Tx) error { _, err := AcquireIP(tx, p); return err })
						for b.Loop() {
							var a netip.Addr
							if err := st.Update(ctx, func(tx backends.Tx) (err error) {
								a, err = AcquireIP(tx, p)
								return err
							}); err != nil {
								b.Fatal(err)
							}
							if err := st.Update(ctx, func(tx backends.Tx) error { return ReleaseIP(tx, p, a) }); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			})
		}
	})
}

// BenchmarkAcquireReleaseChildPrefix: one op acquires a /64 out of a
// 2001:db8::/48 that already holds `children` /64 children and releases it
// again, each in its own transaction (go-ipam: its AcquireChildPrefix and
// ReleaseChildPrefix).
func BenchmarkAcquireReleaseChildPrefix(b *testing.B) {
	p := pfx("2001:db8::/48")
	b.Run("goipam", func(b *testing.B) {
		b.Run("memory", func(b *testing.B) {
			b.Run("children=4000", func(b *testing.B) {
				st := withChildren(b, p, 64, 4000)
				var want netip.Prefix
				probe(b, st, func(tx backends.Tx) (err error) { want, err = AcquireChild(tx, p, 64); return err })
				gi := goipamOver(b, "memory", st)
				for b.Loop() {
					c, err := gi.AcquireChildPrefix(ctx, p.String(), 64)
					if err != nil {
						b.Fatal(err)
					}
					if c.Cidr != want.String() {
						b.Fatalf("go-ipam placed %s, metalkit places %s", c.Cidr, want)
					}
					if err := gi.ReleaseChildPrefix(ctx, c); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	})
	b.Run("metalkit", func(b *testing.B) {
		b.Run("memstore", func(b *testing.B) {
			b.Run("children=4000", func(b *testing.B) {
				st := withChildren(b, p, 64, 4000)
				for b.Loop() {
					var c netip.Prefix
					if err := st.Update(ctx, func(tx backends.Tx) (err error) {
						c, err = AcquireChild(tx, p, 64)
						return err
					}); err != nil {
						b.Fatal(err)
					}
					if err := st.Update(ctx, func(tx backends.Tx) error { return ReleaseChild(tx, p, c) }); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	})
}

// BenchmarkUsage: one op reads a 10.0.0.0/16 holding 60000 IPs and
// computes its usage, in one View (go-ipam: its PrefixFrom and Usage).
func BenchmarkUsage(b *testing.B) {
	p := pfx("10.0.0.0/16")
	const want = 60000 + 2 // and the reserved addresses
	b.Run("goipam", func(b *testing.B) {
		b.Run("memory", func(b *testing.B) {
			b.Run("used=60000", func(b *testing.B) {
				gi := goipamOver(b, "memory", withIPs(b, p, 60000))
				for b.Loop() {
					gp, err := gi.PrefixFrom(ctx, p.String())
					if err != nil {
						b.Fatal(err)
					}
					if u := gp.Usage(); u.AcquiredIPs != want {
						b.Fatalf("used %d", u.AcquiredIPs)
					}
				}
			})
		})
	})
	b.Run("metalkit", func(b *testing.B) {
		b.Run("memstore", func(b *testing.B) {
			b.Run("used=60000", func(b *testing.B) {
				st := withIPs(b, p, 60000)
				for b.Loop() {
					if err := st.View(ctx, func(tx backends.Tx) error {
						u, err := GetUsage(tx, p)
						if err == nil && u.Compatible().UsedIPs != want {
							err = fmt.Errorf("used %v", u.UsedIPs)
						}
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	})
}

// BenchmarkFillIPv4Slash16: one op fills a 10.0.0.0/16, 65,534 IP
// acquisitions of one transaction each, on memstore.
func BenchmarkFillIPv4Slash16(b *testing.B) {
	for range b.N {
		b.StopTimer()
		st := benchStore(b, "memstore")
		p := pfx("10.0.0.0/16")
		update(b, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
		b.StartTimer()
		fillOneByOne(b, st, p)
	}
}

func fillOneByOne(tb testing.TB, st backends.Store, p netip.Prefix) {
	for range 65534 {
		if err := st.Update(ctx, func(tx backends.Tx) error { _, err := AcquireIP(tx, p); return err }); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestFillIPv4Slash16 fills a /16 with one transaction per IP on memstore
// and logs the time it took (no time assertion).
func TestFillIPv4Slash16(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 65,534 addresses")
	}
	st := newMem(t)
	p := pfx("10.0.0.0/16")
	update(t, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
	start := time.Now()
	fillOneByOne(t, st, p)
	t.Logf("filled %s with 65534 IPs, one transaction each, in %v", p, time.Since(start))
	_, err := New(st, nil).AcquireIP(ctx, p)
	require.ErrorIs(t, err, ErrExhausted)
	u, err := New(st, nil).Usage(ctx, p)
	require.NoError(t, err)
	require.Equal(t, "0", u.FreeIPs.String())
}
