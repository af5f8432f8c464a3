package redisstore

import (
	"slices"

	"github.com/metalkit/metalkit/backends"
)

// Buckets implements backends.Tx. It reads the registry of bucket names
// (WATCHed, like every read); a bucket this transaction wrote to is checked
// by reading its first key, so that the listing includes the transaction's
// own writes. Any commit that creates or empties a bucket after the listing
// started makes the transaction run again.
func (t *tx) Buckets(from string, fn func(name string) (bool, error)) error {
	if err := t.usable(); err != nil {
		return err
	}
	t.log.names(from)
	names, err := t.registryNames(from)
	if err != nil {
		return err
	}
	for name := range t.overlay {
		if name >= from {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		if _, touched := t.overlay[name]; touched {
			found, err := backends.HasPrefix(t, name, nil)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
		}
		more, err := fn(name)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// registryNames returns the names of the registry from from on, from what
// the attempt read before when it covers from.
func (t *tx) registryNames(from string) ([]string, error) {
	if r := t.registry; r != nil && r.from <= from {
		i, _ := slices.BinarySearch(r.names, from)
		return slices.Clone(r.names[i:]), nil
	}
	op := &readOp{kind: opNames, from: from}
	if err := t.read(op); err != nil {
		return nil, err
	}
	t.registry = &registryRead{from: from, names: op.names}
	return slices.Clone(op.names), nil
}

// registryRead is what an attempt read of the registry: every name >= from.
type registryRead struct {
	from  string
	names []string
}
