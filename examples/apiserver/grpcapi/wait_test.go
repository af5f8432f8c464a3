package grpcapi_test

import (
	"context"
	"io"
	"testing"
	"time"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/metalkit/metalkit/machine"
)

// startWait opens a Wait stream for machine id and returns once the
// machine's waiting flag is set.
func (l *lab) startWait(ctx context.Context, id string) v1.BootService_WaitClient {
	l.t.Helper()
	stream, err := l.boot.Wait(ctx, &v1.BootServiceWaitRequest{MachineId: id})
	require.NoError(l.t, err)
	require.Eventually(l.t, func() bool { return l.waiting(id) }, 10*time.Second, time.Millisecond, "the waiting flag is set")
	return stream
}

// recvEnd receives from stream until it ends and returns how it ended
// (io.EOF: with OK).
func recvEnd(stream v1.BootService_WaitClient) error {
	for {
		if _, err := stream.Recv(); err != nil {
			return err
		}
	}
}

// TestWaitEndsOnAllocation: the stream sends keepalive messages while the
// machine waits, and ends (io.EOF for the client) when another goroutine
// allocates the machine by size, which only a waiting machine qualifies
// for; the flag is cleared. A Wait of an allocated machine ends at once.
func TestWaitEndsOnAllocation(t *testing.T) {
	l := newLab(t, nil)
	l.register("m1", 1)
	child := l.childNetwork()
	_, err := l.kit.Machines.Allocate(l.ctx, machine.AllocateRequest{Name: "web", ProjectID: project, PartitionID: partition, SizeID: "small",
		ImageID: image, Networks: []machine.AllocationNetwork{{NetworkID: child.ID}}})
	require.ErrorIs(t, err, machine.ErrNoMachineAvailable, "a machine that does not wait is no candidate")

	stream := l.startWait(context.Background(), "m1")
	_, err = stream.Recv()
	require.NoError(t, err, "a keepalive message while waiting")

	allocated := make(chan error, 1)
	go func() {
		_, err := l.kit.Machines.Allocate(l.ctx, machine.AllocateRequest{Name: "web", ProjectID: project, PartitionID: partition, SizeID: "small",
			ImageID: image, Networks: []machine.AllocationNetwork{{NetworkID: child.ID}}})
		allocated <- err
	}()
	require.ErrorIs(t, recvEnd(stream), io.EOF, "the stream ends with OK")
	require.NoError(t, <-allocated)
	m := l.machine("m1")
	assert.True(t, m.Allocated())
	assert.False(t, m.Waiting)

	again, err := l.boot.Wait(context.Background(), &v1.BootServiceWaitRequest{MachineId: "m1"})
	require.NoError(t, err)
	_, err = again.Recv()
	require.ErrorIs(t, err, io.EOF, "an allocated machine does not wait")
}

// TestWaitEndsOnCancellation: a client that goes away ends the wait, and
// the waiting flag is cleared: the machine is no candidate any more.
func TestWaitEndsOnCancellation(t *testing.T) {
	l := newLab(t, nil)
	l.register("m1", 1)
	ctx, cancel := context.WithCancel(context.Background())
	stream := l.startWait(ctx, "m1")
	cancel()
	_, err := stream.Recv()
	requireCode(t, err, codes.Canceled)
	require.Eventually(t, func() bool { return !l.waiting("m1") }, 10*time.Second, time.Millisecond, "the waiting flag is cleared")
	child := l.childNetwork()
	_, err = l.kit.Machines.Allocate(l.ctx, machine.AllocateRequest{Name: "web", ProjectID: project, PartitionID: partition, SizeID: "small",
		ImageID: image, Networks: []machine.AllocationNetwork{{NetworkID: child.ID}}})
	assert.ErrorIs(t, err, machine.ErrNoMachineAvailable)
}

// TestWaitEndsOnDrain: Drain ends the running waits with Unavailable and
// clears their flags; a later Wait fails the same way.
func TestWaitEndsOnDrain(t *testing.T) {
	l := newLab(t, nil)
	l.register("m1", 1)
	stream := l.startWait(context.Background(), "m1")
	l.srv.Drain()
	requireCode(t, recvEnd(stream), codes.Unavailable, "shutting down")
	assert.False(t, l.waiting("m1"), "the flag is cleared before the stream ends")

	again, err := l.boot.Wait(context.Background(), &v1.BootServiceWaitRequest{MachineId: "m1"})
	require.NoError(t, err)
	_, err = again.Recv()
	requireCode(t, err, codes.Unavailable)
	assert.False(t, l.waiting("m1"))
}

// TestWaitRefusesUnknownMachines: NotFound, and an empty id is named.
func TestWaitRefusesUnknownMachines(t *testing.T) {
	l := newLab(t, nil)
	stream, err := l.boot.Wait(context.Background(), &v1.BootServiceWaitRequest{MachineId: "nope"})
	require.NoError(t, err)
	_, err = stream.Recv()
	requireCode(t, err, codes.NotFound, `"nope"`)
	stream, err = l.boot.Wait(context.Background(), &v1.BootServiceWaitRequest{})
	require.NoError(t, err)
	_, err = stream.Recv()
	requireCode(t, err, codes.InvalidArgument, "machine_id is required")
}
