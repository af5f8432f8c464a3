package grpcapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
	"github.com/metalkit/metalkit/examples/apiserver/grpcapi"
)

// ExampleNew serves the services in-process over a memstore kit and sends
// the events metal-hammer sends when a machine boots.
func ExampleNew() {
	kit, err := metalkit.Open(memstore.New(), nil)
	if err != nil {
		panic(err)
	}
	defer kit.Close()
	srv, err := grpcapi.New(kit, api.NewCatalog(kit.Store, nil), &grpcapi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	lis := bufconn.Listen(1 << 20)
	gs := srv.NewGRPCServer()
	go func() { _ = gs.Serve(lis) }()
	defer gs.GracefulStop()
	defer srv.Drain()

	conn, err := grpc.NewClient("passthrough:///metalkit",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := v1.NewBootServiceClient(conn).Dhcp(ctx, &v1.BootServiceDhcpRequest{Uuid: "m1"}); err != nil {
		panic(err)
	}
	resp, err := v1.NewEventServiceClient(conn).Send(ctx, &v1.EventServiceSendRequest{Events: map[string]*v1.MachineProvisioningEvent{
		"m1": {Event: "Preparing", Message: "starting metal-hammer"},
		"m2": {Event: "Rebooted"},
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println("stored:", resp.GetEvents(), "failed:", resp.GetFailed())

	c, err := kit.Machines.GetEvents(ctx, "m1")
	if err != nil {
		panic(err)
	}
	for _, e := range c.Events {
		fmt.Printf("%s: %s\n", e.Event, e.Message)
	}
	// Output:
	// stored: 1 failed: [m2]
	// Preparing: starting metal-hammer
	// PXE Booting: machine sent extended dhcp request
}
