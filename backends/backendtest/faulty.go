package backendtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/metalkit/metalkit/backends"
)

// FaultKind is where a Faulty store injects its fault.
type FaultKind int

// The kinds of faults. Reads are Get, Ascend, Descend and Buckets calls;
// writes are Put and Delete calls; the commit is the end of an Update
// whose function succeeded.
const (
	// FailRead makes the Nth read return an error wrapping
	// backends.ErrUnavailable, as a lost connection would.
	FailRead FaultKind = iota
	// FailWrite makes the Nth write return such an error.
	FailWrite
	// FailCommit makes the Nth commit fail with such an error: nothing of
	// the transaction is written.
	FailCommit
	// LoseCommitReply commits the Nth commit, then reports it failed with
	// such an error: the outcome a client sees when the connection drops
	// after the server committed.
	LoseCommitReply
	// PanicRead panics inside the transaction at the Nth read.
	PanicRead
	// PanicWrite panics inside the transaction at the Nth write.
	PanicWrite
)

func (k FaultKind) String() string {
	return [...]string{"fail-read", "fail-write", "fail-commit", "lose-commit-reply", "panic-read", "panic-write"}[k]
}

// Fault is one planned fault: the Nth (1-based) operation of its kind,
// counted from when it was injected.
type Fault struct {
	Kind FaultKind
	N    int
}

func (f Fault) String() string { return fmt.Sprintf("%s #%d", f.Kind, f.N) }

// Counts are the operations a Faulty store has seen since the last Inject
// (or since it was made).
type Counts struct {
	Reads, Writes, Commits int
}

// Faulty wraps a store and injects one planned fault at a time, so that a
// test can run an operation with a failure at every position it reaches
// and check that the store is then unchanged (or the operation wholly
// committed). Without a fault it only counts. It is safe for concurrent
// use; the counts are shared by all transactions.
type Faulty struct {
	backends.Store
	mu     sync.Mutex
	fault  *Fault
	fired  bool
	counts Counts
}

// NewFaulty wraps s.
func NewFaulty(s backends.Store) *Faulty { return &Faulty{Store: s} }

// Inject plans fault and resets the counts.
func (f *Faulty) Inject(fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault, f.fired, f.counts = &fault, false, Counts{}
}

// Disarm removes the planned fault and resets the counts.
func (f *Faulty) Disarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault, f.fired, f.counts = nil, false, Counts{}
}

// Fired reports whether the planned fault happened.
func (f *Faulty) Fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// Counts returns the operations seen since the last Inject or Disarm.
func (f *Faulty) Counts() Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// ErrInjected is the native error the injected failures wrap (beside
// backends.ErrUnavailable).
var ErrInjected = fmt.Errorf("backendtest: injected fault")

// counter returns the count of the operations a fault of kind k strikes:
// reads, writes or commits.
func (c *Counts) counter(k FaultKind) *int {
	switch k {
	case FailRead, PanicRead:
		return &c.Reads
	case FailWrite, PanicWrite:
		return &c.Writes
	}
	return &c.Commits
}

// step counts one operation of kind and reports whether the planned fault
// strikes it.
func (f *Faulty) step(kind FaultKind) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.counts.counter(kind)
	*n++
	if f.fault == nil || f.fired || f.fault.N != *n || f.counts.counter(f.fault.Kind) != n {
		return false
	}
	f.fired = true
	return true
}

func (f *Faulty) planned() (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault == nil {
		return Fault{}, false
	}
	return *f.fault, true
}

func injected(what string) error {
	return fmt.Errorf("backendtest: %s: %w: %w", what, backends.ErrUnavailable, ErrInjected)
}

// View runs fn with reads counted and faulted.
func (f *Faulty) View(ctx context.Context, fn func(backends.Tx) error) error {
	return f.Store.View(ctx, func(tx backends.Tx) error { return fn(&faultyTx{Tx: tx, f: f}) })
}

// Update runs fn with reads and writes counted and faulted, and the commit
// faulted as planned.
func (f *Faulty) Update(ctx context.Context, fn func(backends.Tx) error) error {
	lost := false
	err := f.Store.Update(ctx, func(tx backends.Tx) error {
		lost = false
		if err := fn(&faultyTx{Tx: tx, f: f}); err != nil {
			return err
		}
		if f.step(FailCommit) {
			if plan, _ := f.planned(); plan.Kind == FailCommit {
				return injected("commit")
			}
			lost = true
		}
		return nil
	})
	if err == nil && lost {
		return injected("reply of a committed transaction")
	}
	return err
}

type faultyTx struct {
	backends.Tx
	f *Faulty
}

// fault counts one read (write false) or write and fails or panics when
// the planned fault strikes it.
func (t *faultyTx) fault(what string, write bool) error {
	plan, _ := t.f.planned()
	fail, panics := FailRead, PanicRead
	if write {
		fail, panics = FailWrite, PanicWrite
	}
	kind := fail
	if plan.Kind == panics {
		kind = panics
	}
	if !t.f.step(kind) {
		return nil
	}
	if kind == panics {
		panic(fmt.Sprintf("backendtest: injected panic at %s", what))
	}
	return injected(what)
}

func (t *faultyTx) read(what string) error  { return t.fault(what, false) }
func (t *faultyTx) write(what string) error { return t.fault(what, true) }

func (t *faultyTx) Get(bucket string, key []byte) ([]byte, error) {
	if err := t.read("get"); err != nil {
		return nil, err
	}
	return t.Tx.Get(bucket, key)
}

func (t *faultyTx) Ascend(bucket string, from []byte, fn func(k, v []byte) (bool, error)) error {
	if err := t.read("ascend"); err != nil {
		return err
	}
	return t.Tx.Ascend(bucket, from, fn)
}

func (t *faultyTx) Descend(bucket string, from []byte, fn func(k, v []byte) (bool, error)) error {
	if err := t.read("descend"); err != nil {
		return err
	}
	return t.Tx.Descend(bucket, from, fn)
}

func (t *faultyTx) Buckets(from string, fn func(name string) (bool, error)) error {
	if err := t.read("buckets"); err != nil {
		return err
	}
	return t.Tx.Buckets(from, fn)
}

func (t *faultyTx) Put(bucket string, key, value []byte) error {
	if err := t.write("put"); err != nil {
		return err
	}
	return t.Tx.Put(bucket, key, value)
}

func (t *faultyTx) Delete(bucket string, key []byte) error {
	if err := t.write("delete"); err != nil {
		return err
	}
	return t.Tx.Delete(bucket, key)
}
