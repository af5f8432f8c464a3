// Package redistest starts a private redis-server for tests.
//
// Start launches redis-server on a free port of 127.0.0.1 with persistence
// off, waits until it answers PING, and stops it by its process id when the
// test ends. Without a redis-server binary on PATH the test is skipped with
// the reason printed, unless METALKIT_REQUIRE_REDIS=1, in which case it
// fails.
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RequireEnv is the environment variable that turns a missing redis-server
// into a test failure.
const RequireEnv = "METALKIT_REQUIRE_REDIS"

// Server is a running redis-server owned by one test.
type Server struct {
	// Addr is the server's host:port on the loopback interface.
	Addr string
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

// Binary returns the path of redis-server, or skips (or fails, when
// METALKIT_REQUIRE_REDIS=1) tb when there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("redis-server not found on PATH and %s=1: %v", RequireEnv, err)
		}
		tb.Skipf("skipping: redis-server not found on PATH (install it, or set %s=1 to fail instead)", RequireEnv)
	}
	return path
}

// Start starts a private redis-server and registers its shutdown with
// tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Binary(tb)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: no free loopback port: %v", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: &bytes.Buffer{}}
		s.cmd = exec.Command(bin,
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--protected-mode", "yes",
			"--dir", tb.TempDir(),
		)
		s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
		if err := s.cmd.Start(); err != nil {
			tb.Fatalf("redistest: start %s: %v", bin, err)
		}
		if lastErr = s.waitReady(10 * time.Second); lastErr == nil {
			tb.Cleanup(s.stop)
			return s
		}
		s.stop()
	}
	tb.Fatalf("redistest: redis-server did not come up: %v", lastErr)
	return nil
}

// Client returns a new client for the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) waitReady(timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if s.cmd.ProcessState != nil || time.Now().After(deadline) {
			return fmt.Errorf("%w; server output: %s", err, s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
