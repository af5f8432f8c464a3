package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metal-stack/security"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

func TestParseConfig(t *testing.T) {
	env := map[string]string{
		"METALKIT_LISTEN":     "127.0.0.1:9999",
		"METALKIT_HMAC_ADMIN": "from-env",
		"METALKIT_HMAC_VIEW":  "view-env",
		"METALKIT_STORE":      "memory",
	}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig(nil, getenv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9999", c.listen)
	assert.Equal(t, "memory", c.store)
	assert.Equal(t, api.Keys{Admin: "from-env", View: "view-env"}, c.keys)
	assert.Equal(t, 30*time.Second, c.lifetime)

	c, err = parseConfig([]string{"-hmac-admin", "from-flag", "-listen", ":1", "-hmac-lifetime", "90s"}, getenv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "from-flag", c.keys.Admin, "a flag wins over its variable")
	assert.Equal(t, ":1", c.listen)
	assert.Equal(t, 90*time.Second, c.lifetime)

	c, err = parseConfig([]string{"-hmac-admin", "k"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "metalkit.db", c.store, "the default store is the bbolt file metalkit.db")
	assert.Equal(t, "127.0.0.1:8080", c.listen)

	_, err = parseConfig(nil, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "-hmac-admin (or METALKIT_HMAC_ADMIN) is required")
	_, err = parseConfig([]string{"-hmac-admin", "k", "-hmac-lifetime", "soon"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, `-hmac-lifetime "soon"`)
	_, err = parseConfig([]string{"-hmac-admin", "k", "extra"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "unexpected arguments")
}

func TestRunRefusesABadStore(t *testing.T) {
	err := run(context.Background(), []string{"-hmac-admin", "k", "-store", "etcd://x"}, func(string) string { return "" }, io.Discard, io.Discard)
	assert.ErrorContains(t, err, `-store "etcd://x"`)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProgramShutsDownCleanly builds the program, serves a bbolt file on a
// free loopback port, and stops it with SIGTERM while a request is still
// sending its body: the request completes, the process exits 0, and the
// store file opens again (the program closed it).
func TestProgramShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the program")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: the go command is not on PATH: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "apiserver")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	dbPath := filepath.Join(dir, "state.db")
	var addr string
	var cmd *exec.Cmd
	logs := &syncBuffer{}
	for attempt := 0; attempt < 3; attempt++ {
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		cmd = exec.Command(bin, "-listen", addr, "-store", dbPath)
		cmd.Env = append(os.Environ(), "METALKIT_HMAC_ADMIN=admin-secret", "METALKIT_LOG_LEVEL=debug")
		cmd.Stdout, cmd.Stderr = logs, logs
		require.NoError(t, cmd.Start())
		if waitHealthy(addr, 20*time.Second) {
			break
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cmd = nil
	}
	require.NotNil(t, cmd, "the server did not become healthy; output:\n%s", logs.String())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})

	// A request in flight: its body arrives in two parts, around the signal.
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/partition", pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	auth := security.NewHMACAuth(api.AuthTypeAdmin, []byte("admin-secret"))
	for k, v := range auth.AuthHeaders(http.MethodPut, time.Now()) {
		req.Header.Set(k, v)
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	_, err = io.WriteString(pw, `{"id": "in-flight", `)
	require.NoError(t, err)
	// The first part was taken by the connection; give the server time to
	// accept it and start the handler before the signal.
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	time.Sleep(300 * time.Millisecond)
	_, err = io.WriteString(pw, `"bootconfig": {}}`)
	require.NoError(t, err)
	require.NoError(t, pw.Close())

	select {
	case r := <-done:
		require.NoError(t, r.err, "output:\n%s", logs.String())
		assert.Equal(t, http.StatusCreated, r.status, "the in-flight request completes")
	case <-time.After(20 * time.Second):
		t.Fatalf("the in-flight request did not complete; output:\n%s", logs.String())
	}
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status; output:\n%s", logs.String())
	case <-time.After(40 * time.Second):
		t.Fatalf("the server did not exit; output:\n%s", logs.String())
	}
	assert.Contains(t, logs.String(), "stopped")

	s, err := boltstore.Open(dbPath, &boltstore.Options{Timeout: time.Second})
	require.NoError(t, err, "the store file is closed and opens again")
	defer s.Close()
	require.NoError(t, s.View(context.Background(), func(tx backends.Tx) error {
		_, err := tx.Get("apiserver/partition", []byte("in-flight"))
		return err
	}), "the in-flight request's partition is stored")
}

// waitHealthy polls /v1/health until it answers 200 or timeout passes.
func waitHealthy(addr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		resp, err := client.Get(fmt.Sprintf("http://%s/v1/health", addr))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// TestRunWiresTheCatalogIntoTheLibrary serves the program in-process on a
// memory store: a network of a partition the server does not keep is
// refused (404), and one of a partition it keeps is created (201).
func TestRunWiresTheCatalogIntoTheLibrary(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() {
		stopped <- run(ctx, []string{"-listen", addr, "-store", "memory", "-hmac-admin", "k"}, func(string) string { return "" }, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-stopped)
	})
	require.True(t, waitHealthy(addr, 20*time.Second), "the server did not become healthy")
	send := func(method, path, body string) int {
		req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader([]byte(body)))
		require.NoError(t, err)
		auth := security.NewHMACAuth(api.AuthTypeAdmin, []byte("k"))
		for k, v := range auth.AuthHeaders(method, time.Now()) {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	network := `{"id": "super", "partitionid": "p1", "privatesuper": true, "prefixes": ["10.0.0.0/16"], "defaultchildprefixlength": {"IPv4": 22}}`
	assert.Equal(t, http.StatusNotFound, send(http.MethodPut, "/v1/network", network), "partition p1 does not exist yet")
	assert.Equal(t, http.StatusCreated, send(http.MethodPut, "/v1/partition", `{"id": "p1", "bootconfig": {}}`))
	assert.Equal(t, http.StatusCreated, send(http.MethodPut, "/v1/network", network))
}
