package switchstate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/internal/testclock"
)

var ctx = context.Background()

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)

func newClock() *testclock.Clock { return testclock.New(t0) }

// fixture is a service over a store with a fake clock.
type fixture struct {
	t     testing.TB
	store backends.Store
	svc   *Service
	clock *testclock.Clock
}

func newFixture(t testing.TB, store backends.Store, opts *Options) *fixture {
	t.Helper()
	if store == nil {
		store = memstore.New()
		t.Cleanup(func() { _ = store.Close() })
	}
	c := newClock()
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Clock = c.Now
	return &fixture{t: t, store: store, svc: New(store, &o), clock: c}
}

func ptr[T any](v T) *T { return &v }

// sonicPorts makes SONiC ports with identifiers "<prefix>-<name>".
func sonicPorts(prefix string, lines ...int) []RegisterNic {
	var out []RegisterNic
	for _, l := range lines {
		name := fmt.Sprintf("Ethernet%d", l)
		out = append(out, RegisterNic{Name: name, Identifier: prefix + "-" + name, MAC: fmt.Sprintf("aa:bb:cc:00:%02x:%02x", len(prefix), l)})
	}
	return out
}

func namedPorts(prefix string, names ...string) []RegisterNic {
	var out []RegisterNic
	for i, name := range names {
		out = append(out, RegisterNic{Name: name, Identifier: prefix + "-" + name, MAC: fmt.Sprintf("aa:bb:cc:01:%02x:%02x", len(prefix), i)})
	}
	return out
}

func switchReq(id, vendor, rack string, nics []RegisterNic) RegisterRequest {
	return RegisterRequest{
		ID: id, Name: ptr(id), PartitionID: "fra-equ01", RackID: rack, Nics: nics,
		OS: &OS{Vendor: Vendor(vendor), Version: "4.2", MetalCoreVersion: "v0.13.0"}, ManagementIP: netip.MustParseAddr("10.1.1.1"), ManagementUser: "admin",
	}
}

func (f *fixture) register(req RegisterRequest) *Switch {
	f.t.Helper()
	sw, _, err := f.svc.Register(ctx, req)
	require.NoError(f.t, err)
	return sw
}

func (f *fixture) get(id string) *Switch {
	f.t.Helper()
	sw, err := f.svc.Get(ctx, id)
	require.NoError(f.t, err)
	return sw
}

// link is one machine NIC seeing one switch port.
type link struct {
	hostname   string
	identifier string
}

func machineNics(links ...link) []MachineNic {
	var out []MachineNic
	for i, l := range links {
		out = append(out, MachineNic{
			Name: fmt.Sprintf("lan%d", i), MAC: fmt.Sprintf("1c:34:da:00:00:%02x", i),
			Neighbors: []Neighbor{{Hostname: l.hostname, Identifier: l.identifier, Name: l.identifier}},
		})
	}
	return out
}

func (f *fixture) connect(machineID string, links ...link) (string, string, error) {
	var rack, partition string
	err := f.store.Update(ctx, func(tx backends.Tx) error {
		var err error
		rack, partition, err = ConnectMachine(tx, machineID, "fra-equ01", machineNics(links...))
		return err
	})
	return rack, partition, err
}

// pair registers leaf01 and leaf02 (SONiC, rack01) with Ethernet0..Ethernet16
// and returns link helpers for their ports.
func (f *fixture) pair() {
	f.t.Helper()
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4, 8, 12, 16)))
	f.register(switchReq("leaf02", "SONiC", "rack01", sonicPorts("leaf02", 0, 4, 8, 12, 16)))
}

func on(sw, port string) link { return link{hostname: sw, identifier: sw + "-" + port} }

func connectionsOf(sw *Switch) map[string]string {
	out := map[string]string{}
	for _, c := range sw.Connections {
		out[c.Nic.Name] = c.MachineID
	}
	return out
}

func nicOf(t testing.TB, sw *Switch, name string) Nic {
	t.Helper()
	for _, n := range sw.Nics {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("switch %s has no port %s", sw.ID, name)
	return Nic{}
}

// dumpStore returns every key and value of the package's buckets.
func dumpStore(t testing.TB, s backends.Store, buckets ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		for _, b := range buckets {
			if err := tx.Ascend(b, nil, func(k, v []byte) (bool, error) {
				out[b+"|"+string(k)] = string(v)
				return true, nil
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	return out
}

// rawGet reads one stored value.
func rawGet(t testing.TB, s backends.Store, bucket, key string) []byte {
	t.Helper()
	var out []byte
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		var err error
		out, err = tx.Get(bucket, []byte(key))
		return err
	}))
	return out
}

// recordingStore records the bucket and key of every Put and Delete of the
// transactions it commits.
type recordingStore struct {
	backends.Store
	mu      sync.Mutex
	puts    []string
	deletes []string
}

func (r *recordingStore) Update(ctx context.Context, fn func(backends.Tx) error) error {
	var puts, deletes []string
	err := r.Store.Update(ctx, func(tx backends.Tx) error {
		puts, deletes = nil, nil
		return fn(&recordingTx{Tx: tx, puts: &puts, deletes: &deletes})
	})
	if err == nil {
		r.mu.Lock()
		r.puts = append(r.puts, puts...)
		r.deletes = append(r.deletes, deletes...)
		r.mu.Unlock()
	}
	return err
}

func (r *recordingStore) reset() {
	r.mu.Lock()
	r.puts, r.deletes = nil, nil
	r.mu.Unlock()
}

type recordingTx struct {
	backends.Tx
	puts, deletes *[]string
}

func (t *recordingTx) Put(bucket string, key, value []byte) error {
	*t.puts = append(*t.puts, bucket+"|"+string(key))
	return t.Tx.Put(bucket, key, value)
}

func (t *recordingTx) Delete(bucket string, key []byte) error {
	*t.deletes = append(*t.deletes, bucket+"|"+string(key))
	return t.Tx.Delete(bucket, key)
}

func slicesSort(s []string, cmp func(a, b string) int) { slices.SortFunc(s, cmp) }
