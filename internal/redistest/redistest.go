// Package redistest starts private redis-server processes for tests.
//
// Start launches redis-server on a free port of 127.0.0.1 with persistence
// off, waits until it answers PING, and stops it by its process id when the
// test ends. StartWith can make the server durable (an append-only file
// synced at every write), so that a test can Kill it and Restart it on the
// same port with the same data. StartCluster joins several servers into a
// Redis Cluster. Without a redis-server binary on PATH the test is skipped
// with the reason printed, unless METALKIT_REQUIRE_REDIS=1, in which case it
// fails.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metalkit/metalkit/internal/logbuf"
	"github.com/redis/go-redis/v9"
)

// RequireEnv is the environment variable that turns a missing redis-server
// into a test failure.
const RequireEnv = "METALKIT_REQUIRE_REDIS"

// Options configure StartWith. The zero value is what Start uses.
type Options struct {
	// Durable starts the server with --appendonly yes --appendfsync
	// always: a write is on disk before the server acknowledges it, so it
	// survives Kill and Restart.
	Durable bool
}

// Server is a running redis-server owned by one test. Its methods may be
// called from several goroutines.
type Server struct {
	// Addr is the server's host:port on the loopback interface; it stays
	// the same across Restart.
	Addr string
	port int
	dir  string
	opts Options
	bin  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
	out    *logbuf.Buffer
}

// Binary returns the path of redis-server, or skips (or fails, when
// METALKIT_REQUIRE_REDIS=1) tb when there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	return lookPath(tb, "redis-server")
}

func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("%s not found on PATH and %s=1: %v", name, RequireEnv, err)
		}
		tb.Skipf("skipping: %s not found on PATH (install it, or set %s=1 to fail instead)", name, RequireEnv)
	}
	return path
}

// Start starts a private redis-server without persistence and registers its
// shutdown with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, nil)
}

// StartWith starts a private redis-server configured by opts (nil: the
// defaults) and registers its shutdown with tb.Cleanup.
func StartWith(tb testing.TB, opts *Options) *Server {
	tb.Helper()
	bin := Binary(tb)
	var o Options
	if opts != nil {
		o = *opts
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := mustFreePort(tb)
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), port: port, dir: tb.TempDir(), opts: o, bin: bin}
		if lastErr = s.launch(); lastErr == nil {
			tb.Cleanup(s.stop)
			return s
		}
		s.stop()
	}
	tb.Fatalf("redistest: redis-server did not come up: %v", lastErr)
	return nil
}

func (s *Server) args() []string {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--dir", s.dir,
	}
	if s.opts.Durable {
		return append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	return append(args, "--appendonly", "no")
}

// launch starts the process and waits until it answers PING.
func (s *Server) launch() error {
	cmd, exited, out, err := startProcess(s.bin, s.args())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()
	return waitReady(s.Addr, exited, out, 10*time.Second)
}

// Client returns a new client for the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Pid returns the process id of the running server.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// Kill ends the server at once with SIGKILL, by its process id, and waits
// until it has exited: nothing is flushed, so only what a durable server
// had synced survives.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		tb.Fatalf("redistest: kill redis-server %d: %v", cmd.Process.Pid, err)
	}
	<-exited
}

// Restart starts the server again, after Kill, on the same port with the
// same data directory, and waits until it answers PING (with the append-only
// file loaded). Clients made by Client reconnect by themselves.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port may still be held briefly
	}
	tb.Fatalf("redistest: restart redis-server on %s: %v", s.Addr, err)
}

func waitReady(addr string, exited <-chan struct{}, out *logbuf.Buffer, timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %w; output: %s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w; server output: %s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM (SIGKILL after five seconds), by its
// process id.
func (s *Server) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	stopProcess(cmd, exited)
}

func stopProcess(cmd *exec.Cmd, exited <-chan struct{}) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// startProcess starts bin with args, its output going to out; exited is
// closed when it has exited.
func startProcess(bin string, args []string) (cmd *exec.Cmd, exited chan struct{}, out *logbuf.Buffer, err error) {
	cmd = exec.Command(bin, args...)
	out = &logbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	return cmd, exited, out, nil
}

// mustFreePort is FreePort, failing tb when there is none.
func mustFreePort(tb testing.TB) int {
	tb.Helper()
	port, err := FreePort()
	if err != nil {
		tb.Fatalf("redistest: no free loopback port: %v", err)
	}
	return port
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
