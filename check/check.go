// Package check holds the types of metalkit's consistency checker: the
// findings each package's checker reports about a store, and the report
// metalkit.Kit.Check assembles from them.
//
// A checker reads the store in transactions of bounded size, each of which
// sees one consistent state, so it can run on a live store: a relation it
// checks is always read within one transaction. A finding names the
// invariant that is broken and the keys involved; a repairable finding
// carries the change that restores the invariant, which re-reads what it
// changes inside the repair transaction.
package check

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/metalkit/metalkit/backends"
)

// Finding is one broken invariant.
type Finding struct {
	// Invariant names what is broken, as "<package>.<invariant>", e.g.
	// "ipam.counters" or "network.orphaned-address".
	Invariant string `json:"invariant"`
	// Message says what was found, naming the entities and values.
	Message string `json:"message"`
	// Keys are the store keys involved.
	Keys []Key `json:"keys,omitempty"`
	// Repair, when set, restores the invariant inside the repair
	// transaction; it re-reads what it changes and does nothing when the
	// finding no longer holds.
	Repair func(tx backends.Tx) error `json:"-"`
}

// Repairable reports whether the finding can be repaired.
func (f Finding) Repairable() bool { return f.Repair != nil }

// MarshalJSON adds "repairable" to the finding's JSON.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding
	return json.Marshal(struct {
		plain
		Repairable bool `json:"repairable"`
	}{plain(f), f.Repairable()})
}

func (f Finding) String() string { return f.Invariant + ": " + f.Message }

// Key is a key of the store.
type Key struct {
	Bucket string `json:"bucket"`
	Key    []byte `json:"-"`
}

// MarshalJSON writes the key as text when it is printable, else as hex.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
	}{k.Bucket, k.text()})
}

func (k Key) text() string {
	for _, c := range k.Key {
		if c < 0x20 || c > 0x7e {
			return "0x" + hex.EncodeToString(k.Key)
		}
	}
	return string(k.Key)
}

// String returns bucket[key], the key printable or in hex, or the bucket
// alone for a key that names a whole bucket (an empty Key).
func (k Key) String() string {
	if len(k.Key) == 0 {
		return k.Bucket
	}
	return fmt.Sprintf("%s[%s]", k.Bucket, k.text())
}

// Options configure a check.
type Options struct {
	// Repair applies the repairs of the repairable findings, all in one
	// transaction; false (the default) is a dry run that only reports.
	Repair bool
	// MaxFindings bounds the findings of one invariant (e.g. orphaned
	// addresses of one prefix); 0 means 1000.
	MaxFindings int
}

// Limit returns the bound of findings per invariant.
func (o Options) Limit() int {
	if o.MaxFindings <= 0 {
		return 1000
	}
	return o.MaxFindings
}

// Checker is the form of every package's consistency check: it reads
// store in transactions of bounded size and returns what it finds,
// repairing nothing.
type Checker func(ctx context.Context, store backends.Store, opts Options) ([]Finding, error)

// RepairAll applies the repairs of the repairable findings of fs in tx, in
// order, and returns how many it applied. It stops at the first repair
// that fails and returns its error, naming the finding's invariant.
func RepairAll(tx backends.Tx, fs []Finding) (int, error) {
	n := 0
	for _, f := range fs {
		if f.Repair == nil {
			continue
		}
		if err := f.Repair(tx); err != nil {
			return n, fmt.Errorf("repair %s: %w", f.Invariant, err)
		}
		n++
	}
	return n, nil
}

// PutKey returns a repair that stores an empty value under key in bucket:
// the repair of an index entry that is missing.
func PutKey(bucket string, key []byte) func(backends.Tx) error {
	return func(tx backends.Tx) error { return tx.Put(bucket, key, nil) }
}

// DeleteKey returns a repair that deletes key from bucket: the repair of an
// index entry that should not be there.
func DeleteKey(bucket string, key []byte) func(backends.Tx) error {
	return func(tx backends.Tx) error { return tx.Delete(bucket, key) }
}

// Report is the outcome of a check.
type Report struct {
	// Findings are every broken invariant found, by package.
	Findings []Finding `json:"findings"`
	// Repaired counts the findings repaired (0 on a dry run).
	Repaired int `json:"repaired"`
	// DryRun is true when nothing was repaired on purpose.
	DryRun bool `json:"dry_run"`
}

// Clean reports whether the check found nothing.
func (r *Report) Clean() bool { return len(r.Findings) == 0 }
