package ipam

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
)

// goipamDump returns a go-ipam dump of 10.0.0.0/16 holding n IPs from
// 10.0.0.1 upwards (plus the two reserved ones), as go-ipam's Dump writes
// it.
func goipamDump(tb testing.TB, n int) []byte {
	tb.Helper()
	ips := map[string]bool{"10.0.0.0": true, "10.0.255.255": true}
	a := netip.MustParseAddr("10.0.0.1")
	for range n {
		ips[a.String()] = true
		a = a.Next()
	}
	dump, err := json.Marshal([]goipamPrefix{{Cidr: "10.0.0.0/16", Namespace: "root", IPs: ips}})
	if err != nil {
		tb.Fatal(err)
	}
	return dump
}

// BenchmarkImportGoIPAM: one op imports a go-ipam dump of one /16 holding
// 60,000 IPs into an empty store, in one transaction: a large transaction
// whose every step reads what it wrote before.
func BenchmarkImportGoIPAM(b *testing.B) {
	const n = 60000
	dump := goipamDump(b, n)
	for _, name := range []string{"memstore", "boltstore", "redisstore"} {
		b.Run(name, func(b *testing.B) {
			b.Run(fmt.Sprintf("ips=%d", n), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					s := New(benchStore(b, name), nil)
					b.StartTimer()
					st, err := s.ImportGoIPAM(ctx, dump)
					if err != nil {
						b.Fatal(err)
					}
					if st.IPs != n {
						b.Fatalf("imported %d IPs, want %d", st.IPs, n)
					}
				}
			})
		})
	}
}
