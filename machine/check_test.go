package machine_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
)

func invariantsOf(t *testing.T, l *lab, repair bool) []string {
	t.Helper()
	fs, err := metalkit.CheckStore(l.ctx, l.store, check.Options{})
	require.NoError(t, err)
	var out []string
	for _, f := range fs {
		out = append(out, f.Invariant)
	}
	if repair {
		require.NoError(t, l.store.Update(l.ctx, func(tx backends.Tx) error {
			_, err := check.RepairAll(tx, fs)
			return err
		}))
	}
	return out
}

// TestCheckFindsEachBrokenMachineInvariant breaks one machine invariant at
// a time with raw writes; the check reports it and repairs the repairable.
func TestCheckFindsEachBrokenMachineInvariant(t *testing.T) {
	cases := []struct {
		name       string
		invariant  string
		repairable bool
		breakIt    func(t *testing.T, l *lab)
	}{
		{"stale free index entry", "machine.index", true, func(t *testing.T, l *lab) {
			raw(t, l, func(tx backends.Tx) error { return tx.Put("machine/free/fra\x00small", []byte("ghost"), nil) })
		}},
		{"missing allocation index entry", "machine.index", true, func(t *testing.T, l *lab) {
			raw(t, l, func(tx backends.Tx) error { return tx.Delete("machine/alloc/p1", []byte("fra\x00busy")) })
		}},
		{"candidate count", "machine.candidate-count", true, func(t *testing.T, l *lab) {
			raw(t, l, func(tx backends.Tx) error {
				return tx.Put("machine/candn/fra\x00small", []byte("rack01"), []byte{0, 0, 0, 9})
			})
		}},
		{"orphaned ASN", "machine.asn-pool", true, func(t *testing.T, l *lab) {
			raw(t, l, func(tx backends.Tx) error { return ipam.AcquireSpecificInt(tx, "machine/asn", 77) })
		}},
		{"allocation IP released behind the machine's back", "machine.allocation-ip", false, func(t *testing.T, l *lab) {
			m, err := l.svc.Get(l.ctx, "busy")
			require.NoError(t, err)
			raw(t, l, func(tx backends.Tx) error {
				ip, err := network.GetIPTx(tx, m.Allocation.Networks[0].IPs[0])
				if err != nil {
					return err
				}
				return network.ReleaseIPTx(tx, ip)
			})
		}},
		{"connection of a missing machine", "machine.connection", true, func(t *testing.T, l *lab) {
			raw(t, l, func(tx backends.Tx) error {
				if err := tx.Delete("machine/events", []byte("idle")); err != nil {
					return err
				}
				return tx.Delete("machine/machines", []byte("idle"))
			})
		}},
		{"container without machine", "machine.container", false, func(t *testing.T, l *lab) {
			raw(t, l, func(tx backends.Tx) error {
				return tx.Put("machine/events", []byte("nobody"), []byte(`{"id":"nobody"}`))
			})
		}},
		{"undecodable machine", "machine.record", false, func(t *testing.T, l *lab) {
			raw(t, l, func(tx backends.Tx) error { return tx.Put("machine/machines", []byte("broken"), []byte("{")) })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, nil, nil)
			l.size("small", 1, 4)
			l.register("idle", 1, 1, 4)
			l.candidate("busy", 1, 0)
			l.candidate("spare", 1, 2)
			_, err := l.svc.Allocate(l.ctx, machine.AllocateRequest{UUID: "busy", Name: "web", ProjectID: "p1", ImageID: "u", Networks: auto(l.childNetwork("p1").ID)})
			require.NoError(t, err)
			require.Empty(t, invariantsOf(t, l, false), "consistent before")
			c.breakIt(t, l)
			assert.Contains(t, invariantsOf(t, l, true), c.invariant)
			after := invariantsOf(t, l, false)
			if c.repairable {
				assert.Empty(t, after, "repaired")
			} else {
				assert.Contains(t, after, c.invariant, "not repairable")
			}
		})
	}
}

func raw(t *testing.T, l *lab, fn func(tx backends.Tx) error) {
	t.Helper()
	require.NoError(t, l.store.Update(l.ctx, fn))
}

// A record that does not decode is reported with the corrupt class,
// naming bucket and key, and an allocation never overwrites a record that
// the indexes say is free.
func TestCorruptionIsReportedNotServed(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.candidate("m1", 1, 0)
	raw(t, l, func(tx backends.Tx) error { return tx.Put("machine/machines", []byte("broken"), []byte("{")) })
	_, err := l.svc.Get(l.ctx, "broken")
	require.ErrorIs(t, err, errdefs.ErrCorrupt)
	assert.Contains(t, err.Error(), "machine/machines")
	assert.Contains(t, err.Error(), `"broken"`)
	raw(t, l, func(tx backends.Tx) error { return tx.Delete("machine/machines", []byte("broken")) })

	// An IP record where ipam says the next address is free: allocate it,
	// keep its stored bytes, free it and put the bytes back.
	child := l.childNetwork("p1")
	next := child.Prefixes[0].Addr().Next()
	_, err = l.nets.AllocateIP(l.ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p1", Name: "kept", Type: network.IPTypeStatic, Address: next})
	require.NoError(t, err)
	key := append([]byte{4}, next.AsSlice()...)
	var record []byte
	raw(t, l, func(tx backends.Tx) error {
		v, err := tx.Get("network/ips", key)
		record = bytes.Clone(v)
		return err
	})
	require.NotEmpty(t, record)
	_, err = l.nets.FreeIP(l.ctx, next)
	require.NoError(t, err)
	raw(t, l, func(tx backends.Tx) error { return tx.Put("network/ips", key, record) })
	_, err = l.svc.Allocate(l.ctx, allocation("p1", child.ID))
	require.ErrorIs(t, err, errdefs.ErrCorrupt, "the allocation refuses to clobber the record")
	got, err := l.nets.GetIP(l.ctx, next)
	require.NoError(t, err)
	assert.Equal(t, "kept", got.Name, "the record is intact")
}

// rerunStore runs every View's function twice, as redisstore does when the
// first run's reads changed.
type rerunStore struct{ backends.Store }

func (s rerunStore) View(ctx context.Context, fn func(backends.Tx) error) error {
	return s.Store.View(ctx, func(tx backends.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// TestCheckOfARerunView: a View the store runs again is checked as once;
// the machine's ASN seen by the discarded run is no duplicate.
func TestCheckOfARerunView(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.candidate("busy", 1, 0)
	m, err := l.svc.Allocate(l.ctx, machine.AllocateRequest{UUID: "busy", Name: "web", ProjectID: "p1", ImageID: "u", Networks: auto(l.childNetwork("p1").ID)})
	require.NoError(t, err)
	asn := uint32(0)
	for _, n := range m.Allocation.Networks {
		asn = max(asn, n.ASN)
	}
	require.NotZero(t, asn, "the allocation has an ASN")
	fs, err := machine.Check(l.ctx, rerunStore{l.store}, check.Options{})
	require.NoError(t, err)
	assert.Empty(t, fs)
}
