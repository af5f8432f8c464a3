package network_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/network"
)

// Child processes of the Redis tests re-execute this test binary; the
// environment tells them what to do.
const (
	childRoleEnv       = "METALKIT_NETWORK_CHILD"      // "allocate" or "churn"
	childAddrEnv       = "METALKIT_NETWORK_ADDR"       // the Redis server
	childNetworkEnv    = "METALKIT_NETWORK_ID"         // the network to allocate in
	childOutEnv        = "METALKIT_NETWORK_OUT"        // where the child writes its report
	childGoroutinesEnv = "METALKIT_NETWORK_GOROUTINES" // concurrent loops
	childCountEnv      = "METALKIT_NETWORK_COUNT"      // acknowledged allocations per loop (allocate)
	childTolerateEnv   = "METALKIT_NETWORK_TOLERATE"   // "1": retry after ErrUnavailable and ErrConflict
)

// ack is one acknowledged allocation.
type ack struct {
	Addr    string        `json:"addr"`
	UUID    string        `json:"uuid"`
	Latency time.Duration `json:"latency"`
	At      time.Time     `json:"at"`
}

// failure is one failed call: its class and message.
type failure struct {
	Class string    `json:"class"`
	Msg   string    `json:"msg"`
	At    time.Time `json:"at"`
}

// childReport is what a child writes to its out file when it is done.
type childReport struct {
	Acks     []ack     `json:"acks"`
	Failures []failure `json:"failures"`
	Churned  int       `json:"churned"`
}

// tolerated reports whether a failure may happen while the server is away
// or contended: unavailable, or a conflict that outlasted the retries.
func tolerated(err error) bool {
	return errors.Is(err, backends.ErrUnavailable) || errors.Is(err, backends.ErrConflict)
}

func className(err error) string {
	if c := errdefs.Class(err); c != nil {
		return c.Error()
	}
	return "none"
}

// runChild runs the role the environment names, if any, and reports
// whether it did: a child test function then returns at once.
func runChild(t *testing.T) bool {
	role := os.Getenv(childRoleEnv)
	if role == "" {
		return false
	}
	goroutines, _ := strconv.Atoi(os.Getenv(childGoroutinesEnv))
	count, _ := strconv.Atoi(os.Getenv(childCountEnv))
	tolerate := os.Getenv(childTolerateEnv) == "1"
	client := redis.NewClient(&redis.Options{Addr: os.Getenv(childAddrEnv)})
	defer client.Close()
	st, err := redisstore.New(client, nil)
	require.NoError(t, err)
	svc := network.New(st, nil)
	netID := os.Getenv(childNetworkEnv)
	stop := os.Getenv(childOutEnv) + ".stop"

	var mu sync.Mutex
	var rep childReport
	record := func(f func()) { mu.Lock(); f(); mu.Unlock() }
	deadline := time.Now().Add(5 * time.Minute)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := network.AllocateIPRequest{NetworkID: netID, ProjectID: "p", Name: "load"}
			switch role {
			case "allocate":
				for done := 0; done < count && time.Now().Before(deadline); {
					start := time.Now()
					ip, err := svc.AllocateIP(ctx, req)
					if err != nil {
						record(func() { rep.Failures = append(rep.Failures, failure{className(err), err.Error(), time.Now()}) })
						if !tolerate || !tolerated(err) {
							return
						}
						time.Sleep(20 * time.Millisecond)
						continue
					}
					done++
					a := ack{Addr: ip.IPAddress.String(), UUID: ip.AllocationUUID, Latency: time.Since(start), At: time.Now()}
					record(func() { rep.Acks = append(rep.Acks, a) })
				}
			case "churn":
				for time.Now().Before(deadline) {
					if _, err := os.Stat(stop); err == nil {
						return
					}
					ip, err := svc.AllocateIP(ctx, req)
					if err == nil {
						_, err = svc.FreeIP(ctx, ip.IPAddress)
					}
					if err != nil {
						record(func() { rep.Failures = append(rep.Failures, failure{className(err), err.Error(), time.Now()}) })
						if !tolerated(err) {
							return
						}
						continue
					}
					record(func() { rep.Churned++ })
				}
			}
		}()
	}
	wg.Wait()
	b, err := json.Marshal(&rep)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(os.Getenv(childOutEnv), b, 0o600))
	return true
}

// children are child processes started by startChildren.
type children struct {
	t    *testing.T
	cmds []*exec.Cmd
	outs []*strings.Builder
	dir  string
}

// startChildren starts n children of test with role; env adds to their
// environment.
func startChildren(t *testing.T, n int, test, role, addr, netID string, env ...string) *children {
	t.Helper()
	c := &children{t: t, dir: t.TempDir()}
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			childRoleEnv+"="+role,
			childAddrEnv+"="+addr,
			childNetworkEnv+"="+netID,
			childOutEnv+"="+filepath.Join(c.dir, fmt.Sprint("child", i)),
		)
		cmd.Env = append(cmd.Env, env...)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		c.cmds = append(c.cmds, cmd)
		c.outs = append(c.outs, out)
	}
	return c
}

// stop asks churning children to end.
func (c *children) stop() {
	for i := range c.cmds {
		require.NoError(c.t, os.WriteFile(filepath.Join(c.dir, fmt.Sprint("child", i))+".stop", nil, 0o600))
	}
}

// wait waits for every child and returns their reports.
func (c *children) wait() []childReport {
	c.t.Helper()
	var reps []childReport
	for i, cmd := range c.cmds {
		require.NoError(c.t, cmd.Wait(), "child %d:\n%s", i, c.outs[i].String())
		b, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprint("child", i)))
		require.NoError(c.t, err, "report of child %d:\n%s", i, c.outs[i].String())
		var rep childReport
		require.NoError(c.t, json.Unmarshal(b, &rep))
		reps = append(reps, rep)
	}
	return reps
}

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

func latencies(reps []childReport) []time.Duration {
	var ds []time.Duration
	for _, r := range reps {
		for _, a := range r.Acks {
			ds = append(ds, a.Latency)
		}
	}
	slices.Sort(ds)
	return ds
}
