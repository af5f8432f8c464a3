package grpcapi_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/grpcapi"
	"github.com/metalkit/metalkit/internal/logbuf"
)

// The full methods of the calls the tests audit.
const (
	registerMethod = "/api.v1.BootService/Register"
	waitMethod     = "/api.v1.BootService/Wait"
)

// grpcEntries returns the trail's grpc entries of method, oldest first.
func (l *lab) grpcEntries(method string) []audit.Entry {
	l.t.Helper()
	res, err := l.kit.Trail.Search(l.ctx, audit.Filter{Type: audit.TypeGRPC, Path: method})
	require.NoError(l.t, err)
	out := make([]audit.Entry, len(res.Entries))
	for i, e := range res.Entries {
		out[len(out)-1-i] = e
	}
	return out
}

// TestAuditUnary: a unary call is recorded before and after it runs, with
// the request as body (redacted by the trail's Redact) and the code and
// message it ended with; both entries share the request id of the events
// the call records.
func TestAuditUnary(t *testing.T) {
	l := newLabWith(t, &metalkit.Options{Audit: &audit.Options{Redact: audit.RedactKeys(grpcapi.SecretFields...)}}, nil)
	l.register("m1", 1)
	es := l.grpcEntries(registerMethod)
	require.Len(t, es, 2)
	req, resp := es[0], es[1]
	for _, e := range es {
		assert.Equal(t, audit.TypeGRPC, e.Type)
		assert.Equal(t, "unary", e.Detail)
		assert.Equal(t, registerMethod, e.Path)
		assert.Equal(t, grpcapi.DefaultUser, e.User)
		assert.NotEmpty(t, e.RemoteAddr)
	}
	assert.Equal(t, audit.PhaseRequest, req.Phase)
	assert.Contains(t, string(req.Body), `"uuid":"m1"`)
	assert.Contains(t, string(req.Body), `"partition_id":"fra"`, "the proto files' field names")
	assert.Contains(t, string(req.Body), `"password":"[redacted]"`)
	assert.NotContains(t, string(req.Body), "secret", "the IPMI password is redacted")
	assert.Equal(t, audit.PhaseResponse, resp.Phase)
	assert.Zero(t, resp.StatusCode, "OK")
	assert.Empty(t, resp.Error)
	assert.Empty(t, resp.Body, "answers are not recorded")
	assert.Equal(t, req.RequestID, resp.RequestID)
	ev, err := l.kit.Trail.Search(l.ctx, audit.Filter{Type: audit.TypeEvent, Detail: "machine.register", Path: "machine/m1"})
	require.NoError(t, err)
	require.Len(t, ev.Entries, 1)
	assert.Equal(t, req.RequestID, ev.Entries[0].RequestID, "the call and its events share the request id")

	_, err = l.boot.Register(context.Background(), &v1.BootServiceRegisterRequest{PartitionId: partition})
	requireCode(t, err, codes.InvalidArgument, "uuid is required")
	es = l.grpcEntries(registerMethod)
	require.Len(t, es, 4)
	assert.Equal(t, `{"partition_id":"fra"}`, string(es[2].Body))
	assert.Equal(t, audit.PhaseResponse, es[3].Phase)
	assert.Equal(t, int(codes.InvalidArgument), es[3].StatusCode)
	assert.Equal(t, "uuid is required", es[3].Error)
	assert.NotEqual(t, req.RequestID, es[3].RequestID, "a request id per call")

	l.allocate("m1")
	_, err = l.boot.Report(context.Background(), &v1.BootServiceReportRequest{Uuid: "m1", Success: true, ConsolePassword: "console-secret",
		BootInfo: &v1.BootInfo{Kernel: "/boot/vmlinuz"}})
	require.NoError(t, err)
	es = l.grpcEntries("/api.v1.BootService/Report")
	require.Len(t, es, 2)
	assert.Contains(t, string(es[0].Body), `"console_password":"[redacted]"`)
	assert.NotContains(t, string(es[0].Body), "console-secret")
}

// TestAuditStream: a Wait stream is recorded when it opens, with the
// request as body, and when it closes, with the code it ended with: OK
// once the machine is allocated, Unavailable when the server drains.
func TestAuditStream(t *testing.T) {
	l := newLab(t, nil)
	l.register("m1", 1)
	l.register("m2", 2)
	stream := l.startWait(context.Background(), "m1")
	es := l.grpcEntries(waitMethod)
	require.Len(t, es, 1, "opened while the stream runs")
	opened := es[0]
	assert.Equal(t, "stream", opened.Detail)
	assert.Equal(t, audit.PhaseOpened, opened.Phase)
	assert.Equal(t, `{"machine_id":"m1"}`, string(opened.Body))
	assert.Equal(t, grpcapi.DefaultUser, opened.User)

	l.allocate("m1")
	require.ErrorIs(t, recvEnd(stream), io.EOF)
	require.Eventually(t, func() bool { return len(l.grpcEntries(waitMethod)) == 2 }, 10*time.Second, time.Millisecond)
	closed := l.grpcEntries(waitMethod)[1]
	assert.Equal(t, audit.PhaseClosed, closed.Phase)
	assert.Equal(t, opened.RequestID, closed.RequestID)
	assert.Zero(t, closed.StatusCode)
	assert.Empty(t, closed.Error)
	assert.Empty(t, closed.Body)

	stream = l.startWait(context.Background(), "m2")
	l.srv.Drain()
	requireCode(t, recvEnd(stream), codes.Unavailable)
	require.Eventually(t, func() bool { return len(l.grpcEntries(waitMethod)) == 4 }, 10*time.Second, time.Millisecond)
	es = l.grpcEntries(waitMethod)
	assert.Equal(t, `{"machine_id":"m2"}`, string(es[2].Body))
	assert.Equal(t, audit.PhaseClosed, es[3].Phase)
	assert.Equal(t, int(codes.Unavailable), es[3].StatusCode)
	assert.Equal(t, "the server is shutting down; call Wait again", es[3].Error)
}

// TestAuditFailureDoesNotFailTheCall: with a trail that cannot write, the
// calls succeed and the lost entries are logged.
func TestAuditFailureDoesNotFailTheCall(t *testing.T) {
	trailStore := memstore.New()
	var logs logbuf.Buffer
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := newLabWith(t, &metalkit.Options{AuditStore: trailStore, Audit: &audit.Options{Logger: quiet}},
		&grpcapi.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, trailStore.Close())

	l.register("m1", 1)
	assert.Equal(t, "m1", l.machine("m1").ID)
	stream := l.startWait(context.Background(), "m1")
	l.allocate("m1")
	require.ErrorIs(t, recvEnd(stream), io.EOF)
	require.Eventually(t, func() bool {
		return strings.Count(logs.String(), "audit: gRPC entry not written") == 4
	}, 10*time.Second, time.Millisecond, "request, response, opened and closed:\n%s", logs.String())
	assert.Contains(t, logs.String(), "method="+registerMethod)
	assert.Contains(t, logs.String(), "phase=opened")
}
