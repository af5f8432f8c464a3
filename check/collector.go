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
	pkg   string
	limit int
	seen  map[string]int
	out   []Finding
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
// are dropped.
func (c *Collector) View(ctx context.Context, store backends.Store, fn func(tx backends.Tx) error) error {
	mark, seen := len(c.out), maps.Clone(c.seen)
	return store.View(ctx, func(tx backends.Tx) error {
		c.out, c.seen = c.out[:mark], maps.Clone(seen)
		return fn(tx)
	})
}

// Findings returns the findings recorded so far.
func (c *Collector) Findings() []Finding { return c.out }
