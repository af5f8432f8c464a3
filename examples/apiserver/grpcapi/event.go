package grpcapi

import (
	"context"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
)

// eventService implements v1.EventServiceServer.
type eventService struct {
	v1.UnimplementedEventServiceServer
	s *Server
}

// Send applies a batch of provisioning events, at most one per machine
// (the request is a map from machine id to event), one machine per
// transaction in the order of the ids (see machine.Service.SendEvents). The
// event's time is the time of reception; the sender's is not used. An event
// of an unknown type, or one that fails in the store, changes nothing for
// its machine: the answer names that machine in failed (and the log says
// why), while the other machines' events are stored and counted in events.
// An event for an unknown machine creates a stub machine. The call itself
// fails only when the client goes away before every machine was tried.
func (e *eventService) Send(ctx context.Context, req *v1.EventServiceSendRequest) (*v1.EventServiceSendResponse, error) {
	ctx = e.s.callContext(ctx)
	res, err := e.s.kit.Machines.SendEvents(ctx, events(req))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &v1.EventServiceSendResponse{Events: uint64(res.Events), Failed: make([]string, 0, len(res.Failed))}
	for _, f := range res.Failed {
		resp.Failed = append(resp.Failed, f.MachineID)
		e.s.log.WarnContext(ctx, "event not stored", "machineID", f.MachineID, "error", f.Message)
	}
	return resp, nil
}
