// Command apiserver serves metal-api v0.40.3's v1 REST API over metalkit,
// so that metalctl and the metal-go client can talk to it, and beside it
// metal-api's gRPC boot and event services, which metal-hammer calls.
//
// Usage:
//
//	go run ./examples/apiserver -hmac-admin KEY                      # bbolt file metalkit.db
//	go run ./examples/apiserver -listen 127.0.0.1:8080 -store memory -hmac-admin KEY -hmac-view VKEY
//	go run ./examples/apiserver -store redis://127.0.0.1:6379/0 -hmac-admin KEY
//	go run ./examples/apiserver -hmac-admin KEY -grpc-listen :50051 -grpc-tls-cert server.pem -grpc-tls-key server-key.pem
//	go run ./examples/apiserver -check                  # check metalkit.db; exit 1 when findings remain
//	go run ./examples/apiserver -check -repair -store state.db
//
// Every flag can also be given as an environment variable (the flag wins):
//
//	-listen                  METALKIT_LISTEN                  address to listen on (127.0.0.1:8080)
//	-store                   METALKIT_STORE                   file path, bolt:<path>, memory or redis://host:port/db (metalkit.db)
//	-hmac-admin              METALKIT_HMAC_ADMIN              HMAC key of auth type Metal-Admin (required)
//	-hmac-edit               METALKIT_HMAC_EDIT               HMAC key of auth type Metal-Edit (off when empty)
//	-hmac-view               METALKIT_HMAC_VIEW               HMAC key of auth type Metal-View (off when empty)
//	-hmac-lifetime           METALKIT_HMAC_LIFETIME           how far X-Date may lie from the clock (30s)
//	-provider-tenant         METALKIT_PROVIDER_TENANT         tenant of the HMAC users
//	-log-level               METALKIT_LOG_LEVEL               debug, info, warn or error (info)
//	-grpc-listen             METALKIT_GRPC_LISTEN             address of the gRPC services (127.0.0.1:50051; empty turns them off)
//	-grpc-tls-cert           METALKIT_GRPC_TLS_CERT           PEM certificate (chain) of the gRPC server; with the key, TLS
//	-grpc-tls-key            METALKIT_GRPC_TLS_KEY            PEM private key of that certificate
//	-grpc-tls-client-ca      METALKIT_GRPC_TLS_CLIENT_CA      PEM CA certificates; when given, clients must present a certificate they signed
//	-grpc-insecure           METALKIT_GRPC_INSECURE           allow plaintext gRPC on an address beyond loopback (false)
//	-bmc-superuser-pwd-file  METALKIT_BMC_SUPERUSER_PWD_FILE  file holding the BMC superuser password metal-hammer sets (off when empty)
//
// With -check the program serves nothing: it opens the store, runs the
// library's consistency check (Kit.Check; with -repair it repairs what can
// be repaired), prints the report on standard output and exits 1 when
// findings remain. No key is needed. A file store must exist.
//
// Keys given as flags are visible in the process list; prefer the
// environment. The gRPC services authenticate no caller (as metal-api's):
// they serve plaintext only on a loopback address, unless -grpc-insecure
// says otherwise; elsewhere give a certificate and key, and a client CA to
// require client certificates as metal-api does. On SIGINT or SIGTERM the
// servers stop accepting, running requests finish (up to 30 s), running
// Wait streams end with Unavailable (metal-hammer calls again), the store
// is closed and the program exits 0.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/examples/apiserver/api"
	"github.com/metalkit/metalkit/examples/apiserver/grpcapi"
	"github.com/metalkit/metalkit/examples/internal/storeflag"
)

// The HTTP server's timeouts.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 30 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		stop()
		os.Exit(1)
	}
}

// config is what the flags and the environment say.
type config struct {
	listen, store, tenant, logLevel string
	keys                            api.Keys
	lifetime                        time.Duration
	grpc                            grpcConfig
	// check runs the consistency check instead of serving; repair lets it
	// repair.
	check, repair bool
}

// grpcConfig is what the flags say about the gRPC services.
type grpcConfig struct {
	// listen is the address; empty turns the services off.
	listen string
	// cert and key are PEM files; both given means TLS.
	cert, key string
	// clientCA is a PEM file of CA certificates; given, clients must
	// present a certificate one of them signed.
	clientCA string
	// insecure allows plaintext beyond loopback.
	insecure bool
	// passwordFile holds the BMC superuser password.
	passwordFile string
}

// parseConfig reads the flags of args, each defaulting to its environment
// variable.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("apiserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.listen, "listen", env("METALKIT_LISTEN", "127.0.0.1:8080"), "address to listen on (METALKIT_LISTEN)")
	fs.StringVar(&c.store, "store", env("METALKIT_STORE", "metalkit.db"), storeflag.Usage+" (METALKIT_STORE)")
	fs.StringVar(&c.keys.Admin, "hmac-admin", env("METALKIT_HMAC_ADMIN", ""), "HMAC key of auth type Metal-Admin, required (METALKIT_HMAC_ADMIN)")
	fs.StringVar(&c.keys.Edit, "hmac-edit", env("METALKIT_HMAC_EDIT", ""), "HMAC key of auth type Metal-Edit; empty turns it off (METALKIT_HMAC_EDIT)")
	fs.StringVar(&c.keys.View, "hmac-view", env("METALKIT_HMAC_VIEW", ""), "HMAC key of auth type Metal-View; empty turns it off (METALKIT_HMAC_VIEW)")
	fs.StringVar(&c.tenant, "provider-tenant", env("METALKIT_PROVIDER_TENANT", ""), "tenant of the HMAC users (METALKIT_PROVIDER_TENANT)")
	fs.StringVar(&c.logLevel, "log-level", env("METALKIT_LOG_LEVEL", "info"), "debug, info, warn or error (METALKIT_LOG_LEVEL)")
	lifetime := env("METALKIT_HMAC_LIFETIME", api.DefaultLifetime.String())
	fs.StringVar(&lifetime, "hmac-lifetime", lifetime, "how far a request's X-Date may lie from the clock (METALKIT_HMAC_LIFETIME)")
	g := &c.grpc
	fs.StringVar(&g.listen, "grpc-listen", env("METALKIT_GRPC_LISTEN", defaultGRPCListen), "address of the gRPC boot and event services; empty turns them off (METALKIT_GRPC_LISTEN)")
	fs.StringVar(&g.cert, "grpc-tls-cert", env("METALKIT_GRPC_TLS_CERT", ""), "PEM certificate (chain) of the gRPC server; with -grpc-tls-key the services speak TLS (METALKIT_GRPC_TLS_CERT)")
	fs.StringVar(&g.key, "grpc-tls-key", env("METALKIT_GRPC_TLS_KEY", ""), "PEM private key of -grpc-tls-cert (METALKIT_GRPC_TLS_KEY)")
	fs.StringVar(&g.clientCA, "grpc-tls-client-ca", env("METALKIT_GRPC_TLS_CLIENT_CA", ""), "PEM CA certificates; when given, gRPC clients must present a certificate one of them signed (METALKIT_GRPC_TLS_CLIENT_CA)")
	plaintext := env("METALKIT_GRPC_INSECURE", "false")
	insecureDefault, err := strconv.ParseBool(plaintext)
	if err != nil {
		return nil, fmt.Errorf("METALKIT_GRPC_INSECURE %q: want true or false", plaintext)
	}
	fs.BoolVar(&g.insecure, "grpc-insecure", insecureDefault, "allow plaintext gRPC on an address beyond loopback (METALKIT_GRPC_INSECURE)")
	fs.StringVar(&g.passwordFile, "bmc-superuser-pwd-file", env("METALKIT_BMC_SUPERUSER_PWD_FILE", ""), "file holding the BMC superuser password metal-hammer sets; empty turns the feature off (METALKIT_BMC_SUPERUSER_PWD_FILE)")
	fs.BoolVar(&c.check, "check", false, "check the store's consistency, print the report and exit (1 when findings remain) instead of serving")
	fs.BoolVar(&c.repair, "repair", false, "with -check: repair what can be repaired")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := g.check(); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.repair && !c.check {
		return nil, errors.New("-repair needs -check")
	}
	if c.check {
		return c, nil
	}
	if c.keys.Admin == "" {
		return nil, errors.New("-hmac-admin (or METALKIT_HMAC_ADMIN) is required")
	}
	d, err := time.ParseDuration(lifetime)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("-hmac-lifetime %q: want a positive duration such as 30s", lifetime)
	}
	c.lifetime = d
	return c, nil
}

// defaultGRPCListen is metal-api's gRPC port, on loopback.
const defaultGRPCListen = "127.0.0.1:50051"

// check refuses half a TLS configuration and plaintext beyond loopback
// (unless insecure).
func (g *grpcConfig) check() error {
	if g.listen == "" {
		return nil
	}
	switch {
	case g.cert != "" && g.key == "":
		return errors.New("-grpc-tls-cert is given without -grpc-tls-key; give both for TLS")
	case g.cert == "" && g.key != "":
		return errors.New("-grpc-tls-key is given without -grpc-tls-cert; give both for TLS")
	case g.clientCA != "" && g.cert == "":
		return errors.New("-grpc-tls-client-ca needs TLS: give -grpc-tls-cert and -grpc-tls-key too")
	}
	if g.cert == "" && !g.insecure && !isLoopback(g.listen) {
		return fmt.Errorf("-grpc-listen %q is not a loopback address, and the gRPC services authenticate no caller: give -grpc-tls-cert and -grpc-tls-key (and -grpc-tls-client-ca), or -grpc-insecure to serve plaintext anyway", g.listen)
	}
	return nil
}

// isLoopback reports whether addr (host:port) listens on loopback only:
// localhost or a loopback IP. An empty host listens everywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// closeKit closes kit, and so its store, and joins a failure to *err.
func closeKit(kit *metalkit.Kit, err *error) {
	if cerr := kit.Close(); cerr != nil {
		*err = errors.Join(*err, fmt.Errorf("closing the store: %w", cerr))
	}
}

// run serves until ctx is done, then shuts down gracefully and closes the
// store; with -check it checks the store instead (see runCheck).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if c.check {
		return runCheck(ctx, c.store, c.repair, stdout)
	}
	log, err := newLogger(c.logLevel, stderr)
	if err != nil {
		return err
	}
	password, err := readPassword(c.grpc.passwordFile)
	if err != nil {
		return err
	}
	creds, err := grpcCredentials(&c.grpc)
	if err != nil {
		return err
	}
	opened, err := storeflag.Open(c.store, nil)
	if err != nil {
		return err
	}
	defer opened.Cleanup()
	// One catalog: the server keeps partitions and projects in it, and the
	// library checks the partitions and projects of networks, IPs and
	// switches against it.
	cat := api.NewCatalog(opened.Store, nil)
	// The trail hides the passwords of the gRPC requests it records.
	kit, err := opened.OpenKit(&metalkit.Options{Catalog: cat, Audit: &audit.Options{Redact: audit.RedactKeys(grpcapi.SecretFields...)}})
	if err != nil {
		return err
	}
	defer closeKit(kit, &err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := api.New(kit, &api.Options{Keys: c.keys, Lifetime: c.lifetime, ProviderTenant: c.tenant, Logger: log, Registry: reg, Catalog: cat})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", c.listen, err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	var (
		gsrv *grpcapi.Server
		gs   *grpc.Server
		gln  net.Listener
	)
	if c.grpc.listen != "" {
		gsrv, err = grpcapi.New(kit, srv.Catalog(), &grpcapi.Options{Logger: log, Registry: reg, SuperUserPassword: password})
		if err != nil {
			_ = ln.Close()
			return err
		}
		if gln, err = net.Listen("tcp", c.grpc.listen); err != nil {
			_ = ln.Close()
			return fmt.Errorf("-grpc-listen %q: %w", c.grpc.listen, err)
		}
		gs = gsrv.NewGRPCServer(grpc.Creds(creds))
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	grpcServed := make(chan error, 1)
	if gs != nil {
		go func() { grpcServed <- gs.Serve(gln) }()
		log.Info("serving gRPC", "listen", gln.Addr().String(), "tls", c.grpc.cert != "", "client certificates", c.grpc.clientCA != "")
	}
	log.Info("serving", "listen", ln.Addr().String(), "store", opened.Kind, "path", opened.Path)

	select {
	case err := <-served:
		if gs != nil {
			gs.Stop()
		}
		return fmt.Errorf("serving: %w", err)
	case err := <-grpcServed:
		_ = hs.Close()
		return fmt.Errorf("serving gRPC: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for running requests", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	grpcStopped := make(chan struct{})
	if gs != nil {
		gsrv.Drain()
		go func() {
			gs.GracefulStop()
			close(grpcStopped)
		}()
	}
	httpErr := hs.Shutdown(sctx)
	if gs != nil {
		select {
		case <-grpcStopped:
		case <-sctx.Done():
			log.Warn("shutting down: gRPC calls still running; closing their connections")
			gs.Stop()
			<-grpcStopped
		}
	}
	if httpErr != nil {
		return fmt.Errorf("shutting down: %w", httpErr)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	if gs != nil {
		if err := <-grpcServed; err != nil {
			return fmt.Errorf("serving gRPC: %w", err)
		}
	}
	log.Info("stopped")
	return nil
}

// readPassword reads the BMC superuser password from path, without
// surrounding white space; an empty path gives "" (the feature is off).
func readPassword(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("-bmc-superuser-pwd-file %q: %w", path, err)
	}
	p := strings.TrimSpace(string(b))
	if p == "" {
		return "", fmt.Errorf("-bmc-superuser-pwd-file %q: the file holds no password", path)
	}
	return p, nil
}

// grpcCredentials returns the transport credentials of the gRPC services:
// TLS with the certificate and key (and client certificates verified
// against the client CAs) when given, else plaintext.
func grpcCredentials(g *grpcConfig) (credentials.TransportCredentials, error) {
	if g.listen == "" || g.cert == "" {
		return insecure.NewCredentials(), nil
	}
	cert, err := tls.LoadX509KeyPair(g.cert, g.key)
	if err != nil {
		return nil, fmt.Errorf("-grpc-tls-cert %q and -grpc-tls-key %q: %w", g.cert, g.key, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if g.clientCA != "" {
		pem, err := os.ReadFile(g.clientCA)
		if err != nil {
			return nil, fmt.Errorf("-grpc-tls-client-ca %q: %w", g.clientCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-grpc-tls-client-ca %q: the file holds no PEM certificate", g.clientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}
