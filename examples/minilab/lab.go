package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	metalgo "github.com/metal-stack/metal-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/examples/apiserver/api"
	"github.com/metalkit/metalkit/examples/apiserver/grpcapi"
	"github.com/metalkit/metalkit/examples/internal/storeflag"
)

// lab is the running apiserver over its store and the clients the lab's
// actors talk to it with.
type lab struct {
	log *slog.Logger
	// now is the lab's clock: the fixed time of -clock, else the wall
	// clock in UTC.
	now func() time.Time
	// newID makes UUIDs: seeded with -seed, else random.
	newID func() string

	kit *metalkit.Kit
	cat *api.Catalog

	// admin signs as the operator (auth type Metal-Admin); edit as
	// metal-core and the project's user (Metal-Edit), as metalctl and
	// metal-core sign.
	admin, edit metalgo.Client
	// boot and events are metal-hammer's stubs of the gRPC services.
	boot   v1.BootServiceClient
	events v1.EventServiceClient

	opened *storeflag.Opened
	http   *http.Server
	served chan error
	gsrv   *grpcapi.Server
	gs     *grpc.Server
	conn   *grpc.ClientConn
}

// startLab opens the store c names, starts the API server and the gRPC
// services on loopback listeners of their own, and connects the clients.
// The caller closes the lab.
func startLab(c *config, stderr io.Writer) (_ *lab, err error) {
	l := &lab{log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: wallClock, newID: uuid.NewString}
	if c.verbose {
		l.log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if !c.clock.IsZero() {
		fixed := c.clock
		l.now = func() time.Time { return fixed }
	}
	if c.seed != 0 {
		l.newID = seededIDs(c.seed)
	}
	l.opened, err = storeflag.Open(c.store, &storeflag.Options{KeyPrefix: "metalkit-minilab", TempPattern: "metalkit-minilab-"})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.close())
		}
	}()
	// One catalog for the server and the library, on the lab's clock and
	// ids; the server checks signatures against the wall clock, as metal-go
	// signs with it.
	l.cat = api.NewCatalog(l.opened.Store, &api.CatalogOptions{Clock: l.now, IDs: l.newID})
	l.kit, err = l.opened.OpenKit(&metalkit.Options{Clock: l.now, IDs: l.newID, Catalog: l.cat,
		Audit: &audit.Options{Redact: audit.RedactKeys(grpcapi.SecretFields...)}})
	if err != nil {
		return nil, err
	}
	adminKey, editKey := newKey(), newKey()
	rest, err := api.New(l.kit, &api.Options{Keys: api.Keys{Admin: adminKey, Edit: editKey}, Catalog: l.cat, Logger: l.log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the API server: %w", err)
	}
	l.http = &http.Server{Handler: rest, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(l.log.Handler(), slog.LevelWarn)}
	l.served = make(chan error, 1)
	go func() { l.served <- l.http.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	if l.admin, err = metalgo.NewDriver(url, "", adminKey, metalgo.AuthType(api.AuthTypeAdmin)); err != nil {
		return nil, err
	}
	if l.edit, err = metalgo.NewDriver(url, "", editKey, metalgo.AuthType(api.AuthTypeEdit)); err != nil {
		return nil, err
	}

	l.gsrv, err = grpcapi.New(l.kit, l.cat, &grpcapi.Options{Logger: l.log, Clock: l.now})
	if err != nil {
		return nil, err
	}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the gRPC services: %w", err)
	}
	l.gs = l.gsrv.NewGRPCServer()
	go func() { _ = l.gs.Serve(gln) }()
	l.conn, err = grpc.NewClient(gln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	l.boot, l.events = v1.NewBootServiceClient(l.conn), v1.NewEventServiceClient(l.conn)
	l.log.Info("lab: serving", "api", url, "grpc", gln.Addr().String(), "store", l.opened.Kind, "path", l.opened.Path)
	return l, nil
}

// stopServers stops the clients and the servers as the apiserver program
// does: running Wait streams end, running requests finish. It may be
// called again.
func (l *lab) stopServers() error {
	var errs []error
	if l.conn != nil {
		errs = append(errs, l.conn.Close())
		l.conn = nil
	}
	if l.gs != nil {
		l.gsrv.Drain()
		l.gs.GracefulStop()
		l.gs = nil
	}
	if l.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errs = append(errs, l.http.Shutdown(ctx))
		if err := <-l.served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		l.http = nil
	}
	return errors.Join(errs...)
}

// close stops the servers, closes the store and removes what storeflag
// made for it.
func (l *lab) close() error {
	err := l.stopServers()
	if l.kit != nil {
		err = errors.Join(err, l.kit.Close())
	}
	l.opened.Cleanup()
	return err
}

// checkEmpty refuses a store that already holds the lab's partition.
func (l *lab) checkEmpty(ctx context.Context, spec string) error {
	err := l.cat.Partition(ctx, partitionID)
	switch {
	case err == nil:
		return fmt.Errorf("-store %q already holds the partition %s of an earlier run; the lab starts from an empty store: give a new file, memory, or leave -store out for a temporary file", spec, partitionID)
	case errdefs.Class(err) == errdefs.ErrNotFound:
		return nil
	}
	return err
}

func wallClock() time.Time { return time.Now().UTC() }

// newKey returns a random HMAC key.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// seededIDs returns a source of random (version 4) UUIDs that repeats for
// the same seed. It is safe for concurrent use.
func seededIDs(seed uint64) func() string {
	var key [32]byte
	binary.BigEndian.PutUint64(key[:], seed)
	src := mrand.NewChaCha8(key)
	var mu sync.Mutex
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return uuid.Must(uuid.NewRandomFromReader(src)).String()
	}
}
