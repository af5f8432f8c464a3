package grpcapi

import (
	"context"
	"time"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metalkit/metalkit/machine"
)

// Wait blocks until machine machine_id is allocated (see
// machine.Service.Wait) and then ends the stream with OK, which
// metal-hammer reads as the end of the stream and goes on to install. It
// ends at once for an allocated machine. Meanwhile the machine's waiting
// flag is set (it is a candidate for allocations by size) and an empty
// message is sent every Options.WaitKeepalive, so that proxies and the
// client see the stream alive, as metal-api does.
//
// The flag is cleared whenever the stream ends: allocated, the client gone
// (its context cancelled), a failed send, or Drain (Unavailable, "the
// server is shutting down"). An allocation made in this process ends the
// wait at once; one made by another process over the same store within
// the machine service's WaitPoll. An unknown machine is NotFound.
func (b *bootService) Wait(req *v1.BootServiceWaitRequest, stream grpc.ServerStreamingServer[v1.BootServiceWaitResponse]) error {
	id := req.GetMachineId()
	if id == "" {
		return invalid("machine_id is required")
	}
	ctx, cancel := context.WithCancel(b.s.callContext(stream.Context()))
	defer cancel()
	stop := context.AfterFunc(b.s.draining, cancel)
	defer stop()

	type waited struct {
		m   *machine.Machine
		err error
	}
	done := make(chan waited, 1)
	go func() {
		m, err := b.s.kit.Machines.Wait(ctx, id)
		done <- waited{m, err}
	}()
	tick := time.NewTicker(b.s.keepalive)
	defer tick.Stop()
	for {
		select {
		case w := <-done:
			return b.waitEnded(stream.Context(), w.err)
		case <-tick.C:
			if err := stream.Send(&v1.BootServiceWaitResponse{}); err != nil {
				// Let the library clear the flag before the stream ends.
				cancel()
				<-done
				return err
			}
		}
	}
}

// waitEnded returns the status a Wait ends with: OK once allocated,
// Unavailable when the server drains (unless the client left first),
// otherwise the error's.
func (b *bootService) waitEnded(client context.Context, err error) error {
	if err == nil {
		return nil
	}
	if b.s.draining.Err() != nil && client.Err() == nil {
		return status.Error(codes.Unavailable, "the server is shutting down; call Wait again")
	}
	return toStatus(err)
}
