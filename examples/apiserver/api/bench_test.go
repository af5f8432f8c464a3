package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metalgo "github.com/metal-stack/metal-go"
	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	nwclient "github.com/metal-stack/metal-go/api/client/network"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// BenchmarkIPAllocateFreeHTTP measures one operation, an IP allocation
// followed by its free, sent by metal-go over loopback HTTP to a server on
// a durable bbolt file (every commit is fsynced; the audit trail shares
// the file, so each request also commits its request and response
// entries). Each of the concurrent clients has its own keep-alive
// connection, as separate programs would. It reports operations per
// second over all clients and the 99th percentile of one operation's
// latency:
//
//	go test -run '^$' -bench IPAllocateFreeHTTP -benchtime 2000x ./examples/apiserver/api
func BenchmarkIPAllocateFreeHTTP(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			store, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			cat := api.NewCatalog(store, nil)
			kit, err := metalkit.Open(store, &metalkit.Options{Catalog: cat})
			if err != nil {
				b.Fatal(err)
			}
			defer kit.Close()
			srv, err := api.New(kit, &api.Options{
				Keys: api.Keys{Admin: adminKey, Edit: editKey}, Catalog: cat,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			networkID := benchNetwork(b, ts.URL)

			latencies := make([][]time.Duration, clients)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					transport := &http.Transport{MaxIdleConnsPerHost: 1}
					defer transport.CloseIdleConnections()
					hc := &http.Client{Transport: transport}
					edit, err := metalgo.NewDriver(ts.URL, "", editKey, metalgo.AuthType(api.AuthTypeEdit))
					if err != nil {
						b.Error(err)
						return
					}
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						ip, err := edit.IP().AllocateIP(ipclient.NewAllocateIPParams().WithHTTPClient(hc).WithBody(&models.V1IPAllocateRequest{
							Networkid: &networkID, Projectid: ptr("bench"),
						}), nil)
						if err != nil {
							b.Error(err)
							return
						}
						if _, err := edit.IP().FreeIP(ipclient.NewFreeIPParams().WithHTTPClient(hc).WithID(*ip.Payload.Ipaddress), nil); err != nil {
							b.Error(err)
							return
						}
						latencies[c] = append(latencies[c], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			all := slices.Concat(latencies...)
			if len(all) == 0 {
				return
			}
			slices.Sort(all)
			p99 := all[min(len(all)-1, len(all)*99/100)]
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(0, "ns/op") // the two figures above say it; ns/op divides by clients
		})
	}
}

// benchNetwork creates a partition, a project, a super network and a
// child network of the project through the server at url and returns the
// child's id.
func benchNetwork(b *testing.B, url string) string {
	b.Helper()
	admin, err := metalgo.NewDriver(url, "", adminKey, metalgo.AuthType(api.AuthTypeAdmin))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
		ID: ptr("bench"), Bootconfig: &models.V1PartitionBootConfiguration{},
	}), nil); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
		Meta: &models.V1Meta{ID: "bench"}, TenantID: "bench",
	}), nil); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(superNetwork("super", "bench")), nil); err != nil {
		b.Fatal(err)
	}
	child, err := admin.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
		Partitionid: "bench", Projectid: "bench", Addressfamily: "IPv4",
	}), nil)
	if err != nil {
		b.Fatal(err)
	}
	return *child.Payload.ID
}
