package grpcapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"github.com/metal-stack/security"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
	"github.com/metalkit/metalkit/examples/apiserver/grpcapi"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// The lab's partition: one rack of two SONiC leaves with portCount ports
// each, a private super network, a size "small" of 1 to 8 cores.
const (
	partition = "fra"
	rack      = "rack01"
	leafA     = "leaf01"
	leafB     = "leaf02"
	portCount = 8
	project   = "p1"
	image     = "ubuntu-24.04"
	adminKey  = "admin-secret"
)

// The boot configuration of the lab's partition.
const (
	kernelURL = "https://images.example/metal-hammer/vmlinuz"
	initrdURL = "https://images.example/metal-hammer/initrd.img.lz4"
	cmdline   = "console=ttyS1,115200n8"
)

// lab is a kit over memstore with the partition set up, its catalog, and
// the gRPC services over an in-memory connection.
type lab struct {
	t      *testing.T
	store  backends.Store
	kit    *metalkit.Kit
	cat    *api.Catalog
	srv    *grpcapi.Server
	boot   v1.BootServiceClient
	events v1.EventServiceClient
	// ctx carries the test's actor, for the library calls the test makes
	// itself (allocations).
	ctx context.Context
}

// newLab builds a lab; opts configure the gRPC server (nil: a keepalive
// of 20 ms, so that Wait streams send some).
func newLab(t *testing.T, opts *grpcapi.Options) *lab {
	t.Helper()
	return newLabWith(t, nil, opts)
}

// newLabWith builds a lab whose kit kitOpts configure (nil: the defaults).
func newLabWith(t *testing.T, kitOpts *metalkit.Options, opts *grpcapi.Options) *lab {
	t.Helper()
	store := memstore.New()
	kit, err := metalkit.Open(store, kitOpts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = kit.Close() })
	l := &lab{t: t, store: store, kit: kit, ctx: audit.NewContext(context.Background(), audit.Actor{User: "alice"})}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rest, err := api.New(kit, &api.Options{Keys: api.Keys{Admin: adminKey}, Logger: quiet})
	require.NoError(t, err)
	l.cat = rest.Catalog()
	l.setup(rest)

	var o grpcapi.Options
	if opts != nil {
		o = *opts
	}
	if o.WaitKeepalive == 0 {
		o.WaitKeepalive = 20 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	l.srv, err = grpcapi.New(kit, l.cat, &o)
	require.NoError(t, err)
	conn := serve(t, l.srv, insecure.NewCredentials(), insecure.NewCredentials())
	l.boot, l.events = v1.NewBootServiceClient(conn), v1.NewEventServiceClient(conn)
	return l
}

// serve serves srv with the server's transport credentials over an
// in-memory listener and returns a client connection to it with the
// client's; both end with the test.
func serve(t *testing.T, srv *grpcapi.Server, server, client credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := srv.NewGRPCServer(grpc.Creds(server))
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///localhost",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(client))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Drain()
		gs.GracefulStop()
	})
	return conn
}

// setup creates the partition with its boot configuration through the
// REST API, the super network, the two leaves and the size.
func (l *lab) setup(rest *api.Server) {
	t := l.t
	ts := httptest.NewServer(rest)
	defer ts.Close()
	body := fmt.Sprintf(`{"id": %q, "bootconfig": {"kernelurl": %q, "imageurl": %q, "commandline": %q}}`, partition, kernelURL, initrdURL, cmdline)
	put(t, ts.URL+"/v1/partition", body)
	put(t, ts.URL+"/v1/partition", `{"id": "empty", "bootconfig": {}}`)

	_, err := l.kit.Networks.Create(l.ctx, network.CreateRequest{ID: "super", PartitionID: partition, PrivateSuper: true,
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
		DefaultChildPrefixLength: network.ChildLengths{network.IPv4: 22, network.IPv6: 96}})
	require.NoError(t, err)
	for _, id := range []string{leafA, leafB} {
		nics := make([]switchstate.RegisterNic, portCount)
		for p := range portCount {
			nics[p] = switchstate.RegisterNic{Name: port(p), Identifier: id + "-" + port(p)}
		}
		name := id
		_, _, err := l.kit.Switches.Register(l.ctx, switchstate.RegisterRequest{ID: id, Name: &name, PartitionID: partition, RackID: rack,
			OS: &switchstate.OS{Vendor: switchstate.VendorSONiC}, Nics: nics})
		require.NoError(t, err)
	}
	_, err = l.kit.Machines.CreateSize(l.ctx, machine.Size{ID: "small", Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: 1, Max: 8}}})
	require.NoError(t, err)
}

// put sends a PUT signed with the admin key and requires 201.
func put(t *testing.T, url, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	auth := security.NewHMACAuth(api.AuthTypeAdmin, []byte(adminKey))
	for k, v := range auth.AuthHeaders(http.MethodPut, time.Now()) {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "PUT %s: %s", url, b)
}

func port(p int) string { return fmt.Sprintf("Ethernet%d", p*4) }

// registration is metal-hammer's registration of machine id wired to port
// p of both leaves, with 4 cores (size small).
func registration(id string, p int) *v1.BootServiceRegisterRequest {
	serial := "chassis-" + id
	return &v1.BootServiceRegisterRequest{
		Uuid: id,
		Hardware: &v1.MachineHardware{
			Memory: 32 << 30,
			Cpus:   []*v1.MachineCPU{{Vendor: "AMD", Model: "EPYC 7402P", Cores: 4, Threads: 8}},
			Disks:  []*v1.MachineBlockDevice{{Name: "/dev/nvme0n1", Size: 960 << 30}},
			Nics: []*v1.MachineNic{
				{Name: "lan0", Mac: fmt.Sprintf("aa:00:00:00:%02x:00", p), Neighbors: []*v1.MachineNic{neighbour(leafA, p)}},
				{Name: "lan1", Mac: fmt.Sprintf("aa:00:00:00:%02x:01", p), Neighbors: []*v1.MachineNic{neighbour(leafB, p)}},
			},
		},
		Bios: &v1.MachineBIOS{Version: "2.1", Vendor: "AMI", Date: "05/10/2024"},
		Ipmi: &v1.MachineIPMI{Address: fmt.Sprintf("10.1.0.%d:623", p+10), Mac: fmt.Sprintf("bb:00:00:00:%02x:00", p), User: "ADMIN",
			Password: "secret", Interface: "lanplus", BmcVersion: "1.7", PowerState: "ON",
			Fru: &v1.MachineFRU{ChassisPartSerial: &serial}},
		Tags:               []string{"hammer=yes"},
		MetalHammerVersion: "v0.13.0",
		PartitionId:        partition,
	}
}

func neighbour(leaf string, p int) *v1.MachineNic {
	return &v1.MachineNic{Hostname: leaf, Name: port(p), Identifier: leaf + "-" + port(p)}
}

// register registers machine id at port p through the client.
func (l *lab) register(id string, p int) {
	l.t.Helper()
	_, err := l.boot.Register(context.Background(), registration(id, p))
	require.NoError(l.t, err)
}

// childNetwork allocates a child of the super network for the project.
func (l *lab) childNetwork() *network.Network {
	l.t.Helper()
	n, err := l.kit.Networks.AllocateChild(l.ctx, network.AllocateRequest{PartitionID: partition, ProjectID: project})
	require.NoError(l.t, err)
	return n
}

// allocation allocates machine id (by its id) into a new child network.
func (l *lab) allocate(id string) *machine.Machine {
	l.t.Helper()
	child := l.childNetwork()
	m, err := l.kit.Machines.Allocate(l.ctx, machine.AllocateRequest{UUID: id, Name: "web", ProjectID: project, ImageID: image,
		Networks: []machine.AllocationNetwork{{NetworkID: child.ID}}})
	require.NoError(l.t, err)
	return m
}

// machine returns machine id from the store.
func (l *lab) machine(id string) *machine.Machine {
	l.t.Helper()
	m, err := l.kit.Machines.Get(l.ctx, id)
	require.NoError(l.t, err)
	return m
}

// waiting reports machine id's waiting flag.
func (l *lab) waiting(id string) bool {
	m, err := l.kit.Machines.Get(l.ctx, id)
	return err == nil && m.Waiting
}

// dump returns the whole store without the audit trail's entries of type
// grpc (and their index keys), which every call through the server's
// interceptors adds: what the library and the catalog keep.
func (l *lab) dump() backendtest.Snapshot {
	l.t.Helper()
	snap := backendtest.Dump(l.t, l.store)
	var rqids []string
	for bucket, kv := range snap {
		if !strings.HasPrefix(bucket, "audit/2") { // the day buckets
			continue
		}
		for k, v := range kv {
			var e audit.Entry
			if json.Unmarshal([]byte(v), &e) == nil && e.Type == audit.TypeGRPC {
				rqids = append(rqids, e.RequestID)
				delete(kv, k)
			}
		}
		if len(kv) == 0 {
			delete(snap, bucket)
			delete(snap["audit/days"], strings.TrimPrefix(bucket, "audit/"))
		}
	}
	for k := range snap["audit/rqid"] {
		for _, id := range rqids {
			if strings.Contains(k, id) {
				delete(snap["audit/rqid"], k)
			}
		}
	}
	return snap
}

// requireCode checks that err is a status with code whose message
// contains every one of want.
func requireCode(t *testing.T, err error, code codes.Code, want ...string) {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status: %v", err)
	require.Equal(t, code.String(), st.Code().String(), "message: %s", st.Message())
	for _, w := range want {
		require.Contains(t, st.Message(), w)
	}
}
