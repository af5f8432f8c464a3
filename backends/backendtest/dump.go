package backendtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/metalkit/metalkit/backends"
)

// Snapshot is the whole content of a store: bucket name -> key -> value.
// Take one with Dump before a call and compare it with one taken after, to
// show that a failed call changed nothing.
type Snapshot map[string]map[string]string

// Dump reads every bucket and key of s in one View (so the snapshot is
// consistent) and returns them. It fails tb when the store cannot be read.
func Dump(tb testing.TB, s backends.Store) Snapshot {
	tb.Helper()
	snap, err := TakeSnapshot(context.Background(), s)
	if err != nil {
		tb.Fatalf("backendtest: dump store: %v", err)
	}
	return snap
}

// TakeSnapshot is Dump without a testing.TB: it returns the error instead.
func TakeSnapshot(ctx context.Context, s backends.Store) (Snapshot, error) {
	var snap Snapshot
	err := s.View(ctx, func(tx backends.Tx) error {
		snap = Snapshot{}
		return tx.Buckets("", func(name string) (bool, error) {
			b := map[string]string{}
			err := tx.Ascend(name, nil, func(k, v []byte) (bool, error) {
				b[string(k)] = string(v)
				return true, nil
			})
			snap[name] = b
			return true, err
		})
	})
	return snap, err
}

// Keys returns the number of keys of the snapshot.
func (s Snapshot) Keys() int {
	n := 0
	for _, b := range s {
		n += len(b)
	}
	return n
}

// Diff describes how other differs from s, one line per bucket or key
// ("+" only in other, "-" only in s, "~" changed value), in byte order; it
// is empty when they are equal. At most max lines are listed (0: all).
func (s Snapshot) Diff(other Snapshot, max int) string {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	names := unionKeys(s, other)
	for _, name := range names {
		a, inA := s[name]
		b, inB := other[name]
		switch {
		case !inA:
			add("+ bucket %q (%d keys)", name, len(b))
			continue
		case !inB:
			add("- bucket %q (%d keys)", name, len(a))
			continue
		}
		for _, k := range unionKeys(a, b) {
			va, okA := a[k]
			vb, okB := b[k]
			switch {
			case !okA:
				add("+ %q %q = %q", name, k, vb)
			case !okB:
				add("- %q %q = %q", name, k, va)
			case va != vb:
				add("~ %q %q: %q -> %q", name, k, va, vb)
			}
		}
	}
	if max > 0 && len(lines) > max {
		lines = append(lines[:max], fmt.Sprintf("... and %d more", len(lines)-max))
	}
	return strings.Join(lines, "\n")
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Unchanged fails tb, listing the differences, when s no longer holds
// exactly what before holds.
func Unchanged(tb testing.TB, before Snapshot, s backends.Store) {
	tb.Helper()
	if d := before.Diff(Dump(tb, s), 20); d != "" {
		tb.Errorf("backendtest: the store changed:\n%s", d)
	}
}
