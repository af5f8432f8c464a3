// Command apiserver serves metal-api v0.40.3's v1 REST API over metalkit,
// so that metalctl and the metal-go client can talk to it.
//
// Usage:
//
//	go run ./examples/apiserver -hmac-admin KEY                      # bbolt file metalkit.db
//	go run ./examples/apiserver -listen 127.0.0.1:8080 -store memory -hmac-admin KEY -hmac-view VKEY
//	go run ./examples/apiserver -store redis://127.0.0.1:6379/0 -hmac-admin KEY
//	go run ./examples/apiserver -check                  # check metalkit.db; exit 1 when findings remain
//	go run ./examples/apiserver -check -repair -store state.db
//
// Every flag can also be given as an environment variable (the flag wins):
//
//	-listen           METALKIT_LISTEN           address to listen on (127.0.0.1:8080)
//	-store            METALKIT_STORE            file path, bolt:<path>, memory or redis://host:port/db (metalkit.db)
//	-hmac-admin       METALKIT_HMAC_ADMIN       HMAC key of auth type Metal-Admin (required)
//	-hmac-edit        METALKIT_HMAC_EDIT        HMAC key of auth type Metal-Edit (off when empty)
//	-hmac-view        METALKIT_HMAC_VIEW        HMAC key of auth type Metal-View (off when empty)
//	-hmac-lifetime    METALKIT_HMAC_LIFETIME    how far X-Date may lie from the clock (30s)
//	-provider-tenant  METALKIT_PROVIDER_TENANT  tenant of the HMAC users
//	-log-level        METALKIT_LOG_LEVEL        debug, info, warn or error (info)
//
// With -check the program serves nothing: it opens the store, runs the
// library's consistency check (Kit.Check; with -repair it repairs what can
// be repaired), prints the report on standard output and exits 1 when
// findings remain. No key is needed. A file store must exist.
//
// Keys given as flags are visible in the process list; prefer the
// environment. On SIGINT or SIGTERM the server stops accepting, lets
// running requests finish (up to 30 s), closes the store and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/examples/apiserver/api"
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
	// check runs the consistency check instead of serving; repair lets it
	// repair.
	check, repair bool
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
	fs.BoolVar(&c.check, "check", false, "check the store's consistency, print the report and exit (1 when findings remain) instead of serving")
	fs.BoolVar(&c.repair, "repair", false, "with -check: repair what can be repaired")
	if err := fs.Parse(args); err != nil {
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

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
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
	opened, err := storeflag.Open(c.store, nil)
	if err != nil {
		return err
	}
	defer opened.Cleanup()
	// One catalog: the server keeps partitions and projects in it, and the
	// library checks the partitions and projects of networks, IPs and
	// switches against it.
	cat := api.NewCatalog(opened.Store, nil)
	kit, err := metalkit.Open(opened.Store, &metalkit.Options{Catalog: cat})
	if err != nil {
		_ = opened.Store.Close()
		return err
	}
	defer func() {
		if cerr := kit.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the store: %w", cerr))
		}
	}()
	srv, err := api.New(kit, &api.Options{Keys: c.keys, Lifetime: c.lifetime, ProviderTenant: c.tenant, Logger: log, Catalog: cat})
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
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("serving", "listen", ln.Addr().String(), "store", opened.Kind, "path", opened.Path)

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for running requests", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("stopped")
	return nil
}
