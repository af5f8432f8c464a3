package grpcapi_test

import (
	"context"
	"crypto/tls"
	"testing"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/credentials"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/examples/apiserver/grpcapi"
	"github.com/metalkit/metalkit/examples/internal/testcert"
)

// registeredBy returns the user of machine id's registration event.
func (l *lab) registeredBy(id string) string {
	l.t.Helper()
	res, err := l.kit.Trail.Search(l.ctx, audit.Filter{Type: audit.TypeEvent, Detail: "machine.register", Path: "machine/" + id})
	require.NoError(l.t, err)
	require.Len(l.t, res.Entries, 1)
	return res.Entries[0].User
}

// TestCallerInTheTrail: the library's audit entries and the call's own
// name the subject of a verified client certificate as the caller, else
// Options.User.
func TestCallerInTheTrail(t *testing.T) {
	l := newLab(t, nil)
	l.register("m1", 1)
	assert.Equal(t, grpcapi.DefaultUser, l.registeredBy("m1"))

	server, client := testcert.New(t, "localhost"), testcert.New(t, "hammer-fra")
	conn := serve(t, l.srv,
		credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{server.TLS}, ClientCAs: client.Pool, ClientAuth: tls.RequireAndVerifyClientCert}),
		credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{client.TLS}, RootCAs: server.Pool}))
	_, err := v1.NewBootServiceClient(conn).Register(context.Background(), registration("m2", 2))
	require.NoError(t, err)
	assert.Equal(t, "hammer-fra", l.registeredBy("m2"))
	es := l.grpcEntries(registerMethod)
	require.Len(t, es, 4)
	assert.Equal(t, []string{grpcapi.DefaultUser, grpcapi.DefaultUser, "hammer-fra", "hammer-fra"}, []string{es[0].User, es[1].User, es[2].User, es[3].User})
}
