package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"github.com/metal-stack/security"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
	"github.com/metalkit/metalkit/examples/internal/testcert"
	"github.com/metalkit/metalkit/internal/logbuf"
	"github.com/metalkit/metalkit/internal/redistest"
	"github.com/metalkit/metalkit/machine"
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

func TestParseConfigGRPC(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseConfig([]string{"-hmac-admin", "k"}, none, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, grpcConfig{listen: "127.0.0.1:50051"}, c.grpc, "plaintext on loopback by default")

	env := map[string]string{
		"METALKIT_GRPC_LISTEN":            "[::]:50051",
		"METALKIT_GRPC_TLS_CERT":          "server.pem",
		"METALKIT_GRPC_TLS_KEY":           "server-key.pem",
		"METALKIT_GRPC_TLS_CLIENT_CA":     "ca.pem",
		"METALKIT_BMC_SUPERUSER_PWD_FILE": "pw",
	}
	c, err = parseConfig([]string{"-hmac-admin", "k"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, grpcConfig{listen: "[::]:50051", cert: "server.pem", key: "server-key.pem", clientCA: "ca.pem", passwordFile: "pw"}, c.grpc)

	for _, ok := range [][]string{
		{"-grpc-listen", ""},
		{"-grpc-listen", "localhost:1"},
		{"-grpc-listen", "[::1]:1"},
		{"-grpc-listen", ":50051", "-grpc-insecure"},
		{"-grpc-listen", ":50051", "-grpc-insecure=true"},
		{"-grpc-listen", "0.0.0.0:1", "-grpc-tls-cert", "c", "-grpc-tls-key", "k"},
	} {
		_, err := parseConfig(append([]string{"-hmac-admin", "k"}, ok...), none, io.Discard)
		assert.NoError(t, err, "%q", ok)
	}
	c, err = parseConfig([]string{"-hmac-admin", "k", "-grpc-listen", ":1"}, func(k string) string {
		return map[string]string{"METALKIT_GRPC_INSECURE": "true"}[k]
	}, io.Discard)
	require.NoError(t, err)
	assert.True(t, c.grpc.insecure)

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"-grpc-tls-cert", "c"}, "-grpc-tls-cert is given without -grpc-tls-key"},
		{[]string{"-grpc-tls-key", "k"}, "-grpc-tls-key is given without -grpc-tls-cert"},
		{[]string{"-grpc-tls-client-ca", "ca"}, "-grpc-tls-client-ca needs TLS"},
		{[]string{"-grpc-listen", ":50051"}, `-grpc-listen ":50051" is not a loopback address`},
		{[]string{"-grpc-listen", "10.0.0.1:50051"}, `-grpc-listen "10.0.0.1:50051" is not a loopback address`},
		{[]string{"-grpc-insecure=maybe"}, `invalid boolean value "maybe" for -grpc-insecure`},
	} {
		_, err := parseConfig(append([]string{"-hmac-admin", "k"}, bad.args...), none, io.Discard)
		assert.ErrorContains(t, err, bad.want, "%q", bad.args)
	}
	_, err = parseConfig([]string{"-hmac-admin", "k"}, func(k string) string {
		return map[string]string{"METALKIT_GRPC_INSECURE": "maybe"}[k]
	}, io.Discard)
	assert.ErrorContains(t, err, `METALKIT_GRPC_INSECURE "maybe": want true or false`)
}

func TestRunRefusesBadGRPCFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte(" \n"), 0o600))
	missing := filepath.Join(dir, "missing.pem")
	cert, key := testcert.New(t, "localhost").WriteFiles(t, dir, "server")
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"-grpc-tls-cert", missing, "-grpc-tls-key", key}, "-grpc-tls-cert " + strconv.Quote(missing)},
		{[]string{"-grpc-tls-cert", cert, "-grpc-tls-key", cert}, "-grpc-tls-key " + strconv.Quote(cert)},
		{[]string{"-grpc-tls-cert", cert, "-grpc-tls-key", key, "-grpc-tls-client-ca", missing}, "-grpc-tls-client-ca " + strconv.Quote(missing)},
		{[]string{"-grpc-tls-cert", cert, "-grpc-tls-key", key, "-grpc-tls-client-ca", key}, "holds no PEM certificate"},
		{[]string{"-bmc-superuser-pwd-file", missing}, "-bmc-superuser-pwd-file " + strconv.Quote(missing)},
		{[]string{"-bmc-superuser-pwd-file", empty}, "the file holds no password"},
	} {
		args := append([]string{"-hmac-admin", "k", "-store", "memory", "-listen", "127.0.0.1:0", "-grpc-listen", "127.0.0.1:0"}, bad.args...)
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		assert.ErrorContains(t, err, bad.want, "%q", bad.args)
	}
}

// startProgram runs the program in this process with args (on free
// loopback ports for HTTP and gRPC, memory store, admin key "k") and
// returns the HTTP and the gRPC address; the program stops, and must have
// exited 0, when the test ends.
func startProgram(t *testing.T, args ...string) (httpAddr, grpcAddr string) {
	t.Helper()
	grpcAddr, httpAddr = freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-hmac-admin", "k", "-store", "memory", "-listen", httpAddr, "-grpc-listen", grpcAddr}, args...),
			func(string) string { return "" }, io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "output:\n%s", logs.String())
		case <-time.After(40 * time.Second):
			t.Errorf("the program did not stop; output:\n%s", logs.String())
		}
	})
	return httpAddr, grpcAddr
}

// superUserPassword calls SuperUserPassword on addr with creds, waiting
// up to timeout for the server to come up.
func superUserPassword(t *testing.T, addr string, creds credentials.TransportCredentials, timeout time.Duration, wait bool) (*v1.BootServiceSuperUserPasswordResponse, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return v1.NewBootServiceClient(conn).SuperUserPassword(ctx, &v1.BootServiceSuperUserPasswordRequest{}, grpc.WaitForReady(wait))
}

// TestProgramServesGRPCOverTLS: with a certificate and key the gRPC
// services speak TLS: a client that trusts the certificate's CA calls
// them, a plaintext client cannot; with a client CA, only a client with a
// certificate that CA signed can.
func TestProgramServesGRPCOverTLS(t *testing.T) {
	dir := t.TempDir()
	server := testcert.New(t, "localhost")
	cert, key := server.WriteFiles(t, dir, "server")
	pw := filepath.Join(dir, "bmc-password")
	require.NoError(t, os.WriteFile(pw, []byte("bmc-secret\n"), 0o600))
	trusting := credentials.NewTLS(&tls.Config{RootCAs: server.Pool})

	t.Run("server certificate", func(t *testing.T) {
		_, addr := startProgram(t, "-grpc-tls-cert", cert, "-grpc-tls-key", key, "-bmc-superuser-pwd-file", pw)
		resp, err := superUserPassword(t, addr, trusting, 20*time.Second, true)
		require.NoError(t, err)
		assert.False(t, resp.GetFeatureDisabled())
		assert.Equal(t, "bmc-secret", resp.GetSuperUserPassword())

		_, err = superUserPassword(t, addr, insecure.NewCredentials(), 5*time.Second, false)
		assert.Error(t, err, "a plaintext client")
		_, err = superUserPassword(t, addr, credentials.NewTLS(&tls.Config{RootCAs: testcert.New(t, "other").Pool}), 5*time.Second, false)
		assert.Error(t, err, "a client that does not trust the server's CA")
	})
	t.Run("client certificates", func(t *testing.T) {
		client := testcert.New(t, "hammer")
		ca, _ := client.WriteFiles(t, dir, "client")
		_, addr := startProgram(t, "-grpc-tls-cert", cert, "-grpc-tls-key", key, "-grpc-tls-client-ca", ca)
		resp, err := superUserPassword(t, addr, credentials.NewTLS(&tls.Config{RootCAs: server.Pool, Certificates: []tls.Certificate{client.TLS}}), 20*time.Second, true)
		require.NoError(t, err)
		assert.True(t, resp.GetFeatureDisabled(), "no password file")

		_, err = superUserPassword(t, addr, trusting, 5*time.Second, false)
		assert.Error(t, err, "a client without a certificate")
		stranger := testcert.New(t, "stranger")
		_, err = superUserPassword(t, addr, credentials.NewTLS(&tls.Config{RootCAs: server.Pool, Certificates: []tls.Certificate{stranger.TLS}}), 5*time.Second, false)
		assert.Error(t, err, "a client whose certificate the client CA did not sign")
	})
}

func TestRunRefusesABadStore(t *testing.T) {
	err := run(context.Background(), []string{"-hmac-admin", "k", "-store", "etcd://x"}, func(string) string { return "" }, io.Discard, io.Discard)
	assert.ErrorContains(t, err, `-store "etcd://x"`)
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := redistest.FreePort()
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// TestProgramShutsDownCleanly builds the program, serves a bbolt file on
// free loopback ports, and stops it with SIGTERM while a request is still
// sending its body and a machine waits on a gRPC Wait stream: the request
// completes, the stream ends with Unavailable, the process exits 0, and the
// store file opens again (the program closed it) with the machine's
// waiting flag cleared.
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
	var addr, grpcAddr string
	var cmd *exec.Cmd
	logs := &logbuf.Buffer{}
	for attempt := 0; attempt < 3; attempt++ {
		addr, grpcAddr = freeAddr(t), freeAddr(t)
		cmd = exec.Command(bin, "-listen", addr, "-store", dbPath, "-grpc-listen", grpcAddr)
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

	// A machine waits: its first DHCP request made a stub of it.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	boot := v1.NewBootServiceClient(conn)
	gctx, gcancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer gcancel()
	_, err = boot.Dhcp(gctx, &v1.BootServiceDhcpRequest{Uuid: "waiting-machine"}, grpc.WaitForReady(true))
	require.NoError(t, err, "output:\n%s", logs.String())
	wait, err := boot.Wait(gctx, &v1.BootServiceWaitRequest{MachineId: "waiting-machine"})
	require.NoError(t, err)
	waitEnded := make(chan error, 1)
	go func() {
		for {
			if _, err := wait.Recv(); err != nil {
				waitEnded <- err
				return
			}
		}
	}()

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
	select {
	case err := <-waitEnded:
		assert.Equal(t, codes.Unavailable.String(), status.Code(err).String(), "the Wait stream: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the Wait stream did not end")
	}

	s, err := boltstore.Open(dbPath, &boltstore.Options{Timeout: time.Second})
	require.NoError(t, err, "the store file is closed and opens again")
	defer s.Close()
	require.NoError(t, s.View(context.Background(), func(tx backends.Tx) error {
		_, err := tx.Get("apiserver/partition", []byte("in-flight"))
		return err
	}), "the in-flight request's partition is stored")
	m, err := machine.New(s, nil).Get(context.Background(), "waiting-machine")
	require.NoError(t, err)
	assert.False(t, m.Waiting, "the waiting flag is cleared")
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
	addr, _ := startProgram(t)
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
