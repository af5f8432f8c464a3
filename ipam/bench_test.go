package ipam

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
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

// BenchmarkAcquireReleaseIP: one op acquires the next free IP of a
// 10.0.0.0/16 that already holds `used` IPs and releases it again, each in
// its own transaction.
func BenchmarkAcquireReleaseIP(b *testing.B) {
	b.Run("metalkit", func(b *testing.B) {
		for _, c := range []struct {
			store string
			used  []int
		}{
			{"memstore", []int{1000, 60000}},
			{"redisstore", []int{60000}},
			{"boltstore", []int{60000}},
		} {
			b.Run(c.store, func(b *testing.B) {
				for _, used := range c.used {
					b.Run(fmt.Sprintf("used=%d", used), func(b *testing.B) {
						st := benchStore(b, c.store)
						p := pfx("10.0.0.0/16")
						update(b, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
						fill(b, st, used, func(tx backends.Tx) error { _, err := AcquireIP(tx, p); return err })
						b.ResetTimer()
						for range b.N {
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
// again, each in its own transaction.
func BenchmarkAcquireReleaseChildPrefix(b *testing.B) {
	b.Run("metalkit", func(b *testing.B) {
		b.Run("memstore", func(b *testing.B) {
			b.Run("children=4000", func(b *testing.B) {
				st := benchStore(b, "memstore")
				p := pfx("2001:db8::/48")
				update(b, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
				fill(b, st, 4000, func(tx backends.Tx) error { _, err := AcquireChild(tx, p, 64); return err })
				b.ResetTimer()
				for range b.N {
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
// computes its usage, in one View.
func BenchmarkUsage(b *testing.B) {
	b.Run("metalkit", func(b *testing.B) {
		b.Run("memstore", func(b *testing.B) {
			b.Run("used=60000", func(b *testing.B) {
				st := benchStore(b, "memstore")
				p := pfx("10.0.0.0/16")
				update(b, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
				fill(b, st, 60000, func(tx backends.Tx) error { _, err := AcquireIP(tx, p); return err })
				b.ResetTimer()
				for range b.N {
					if err := st.View(ctx, func(tx backends.Tx) error {
						u, err := GetUsage(tx, p)
						if err == nil && u.Compatible().UsedIPs != 60002 {
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
