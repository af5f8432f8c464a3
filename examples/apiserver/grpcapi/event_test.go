package grpcapi_test

import (
	"context"
	"testing"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/metalkit/metalkit/machine"
)

// TestSend: a batch with an event of an unknown type names that machine as
// failed and stores nothing for it, while the other machines' events are
// stored (an unknown machine gets a stub); the sender's time is not used.
func TestSend(t *testing.T) {
	l := newLab(t, nil)
	l.register("m1", 1)
	resp, err := l.events.Send(context.Background(), &v1.EventServiceSendRequest{Events: map[string]*v1.MachineProvisioningEvent{
		"m1":  {Event: "Preparing", Message: "starting metal-hammer", Time: timestamppb.New(timestamppb.Now().AsTime().AddDate(-1, 0, 0))},
		"bad": {Event: "Exploded", Message: "boom"},
		"m3":  {Event: "PXE Booting"},
		"nil": nil,
	}})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), resp.GetEvents())
	assert.Equal(t, []string{"bad", "nil"}, resp.GetFailed())

	c, err := l.kit.Machines.GetEvents(l.ctx, "m1")
	require.NoError(t, err)
	require.Len(t, c.Events, 1)
	assert.Equal(t, machine.EventPreparing, c.Events[0].Event)
	assert.Equal(t, "starting metal-hammer", c.Events[0].Message)
	assert.Less(t, timestamppb.Now().AsTime().Sub(c.Events[0].Time).Hours(), 1.0, "the time of reception")

	c, err = l.kit.Machines.GetEvents(l.ctx, "m3")
	require.NoError(t, err)
	assert.Equal(t, machine.EventPXEBooting, c.Events[0].Event)

	for _, id := range []string{"bad", "nil"} {
		_, err = l.kit.Machines.Get(l.ctx, id)
		assert.ErrorIs(t, err, machine.ErrNotFound, "no stub for %s", id)
	}

	resp, err = l.events.Send(context.Background(), &v1.EventServiceSendRequest{})
	require.NoError(t, err)
	assert.Zero(t, resp.GetEvents())
	assert.Empty(t, resp.GetFailed())
}
