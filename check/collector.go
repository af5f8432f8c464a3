package check

import (
	"context"
	"fmt"
	"maps"

	"github.com/metalkit/metalkit/backends"
)

// Collector gathers the findings of one package's checker. It names each
// invariant and message after the package, keeps at most Options.Limit
// findings of one invariant, and runs the checker's transactions so that
// a View the store runs again (an optimistic adapter re-runs a View whose
// reads changed) reports its findings once.
type Collector struct {
	pkg      string
	limit    int
	seen     map[string]int
	out      []Finding
	deferred []func()
}

// NewCollector returns a Collector of the findings of package pkg.
func NewCollector(pkg string, opts Options) *Collector {
	return &Collector{pkg: pkg, limit: opts.Limit(), seen: map[string]int{}}
}

// Add records a finding of invariant pkg.invariant with the message
// "pkg: " and format's text, unless that invariant has reached the limit.
// repair is nil for a finding that is not repairable.
func (c *Collector) Add(invariant string, repair func(tx backends.Tx) error, keys []Key, format string, args ...any) {
	inv := c.pkg + "." + invariant
	if c.seen[inv] >= c.limit {
		return
	}
	c.seen[inv]++
	c.out = append(c.out, Finding{Invariant: inv, Message: c.pkg + ": " + fmt.Sprintf(format, args...), Keys: keys, Repair: repair})
}

// View runs fn in a View of store. Each run of fn starts from the findings
// recorded before View was called, so those of a run the store discarded
// are dropped; the functions the run that counts passed to Defer run once
// View succeeds.
func (c *Collector) View(ctx context.Context, store backends.Store, fn func(tx backends.Tx) error) error {
	mark, seen := len(c.out), maps.Clone(c.seen)
	err := store.View(ctx, func(tx backends.Tx) error {
		c.out, c.seen, c.deferred = c.out[:mark], maps.Clone(seen), nil
		return fn(tx)
	})
	deferred := c.deferred
	c.deferred = nil
	if err != nil {
		return err
	}
	for _, f := range deferred {
		f()
	}
	return nil
}

// Defer runs f when the View it is called in succeeds, and not for a run
// of that View the store discards: for what a checker learns in one
// transaction and uses in later ones.
func (c *Collector) Defer(f func()) { c.deferred = append(c.deferred, f) }

// KeyValue is one key of a scan with its value.
type KeyValue struct{ Key, Value []byte }

// ScanBatches calls fn with the keys of bucket and their values in order,
// at most size at a time, each batch in a View of its own (see View).
func (c *Collector) ScanBatches(ctx context.Context, store backends.Store, bucket string, size int, fn func(tx backends.Tx, batch []KeyValue) error) error {
	var from []byte
	for {
		var next []byte
		err := c.View(ctx, store, func(tx backends.Tx) error {
			next = nil
			var batch []KeyValue
			err := tx.Ascend(bucket, from, func(k, v []byte) (bool, error) {
				if len(batch) == size {
					next = k
					return false, nil
				}
				batch = append(batch, KeyValue{k, v})
				return true, nil
			})
			if err != nil {
				return err
			}
			return fn(tx, batch)
		})
		if err != nil || next == nil {
			return err
		}
		from = next
	}
}

// Findings returns the findings recorded so far.
func (c *Collector) Findings() []Finding { return c.out }
