// Package audit is metalkit's audit trail: entries of HTTP requests, gRPC
// calls and the library's own changes, stored through backends.Store and
// searchable with one semantics on every adapter.
//
// A Trail writes entries synchronously (Write, or WriteTx inside a caller's
// transaction), answers Search newest first with one global limit and a
// continuation token, drops whole UTC days (Retain, RunRetention),
// optionally compresses closed days (Compress) and optionally keeps a hash
// chain (Verify). Middleware records HTTP requests and responses and puts
// the request's Actor into the request's context (NewContext), so that the
// library's events share the request id. Update and Recorder are how the
// library's operations record their changes. The package starts no goroutine.
package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/google/uuid"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Options configure a Trail. A nil *Options means all defaults.
type Options struct {
	// Component fills an entry's empty component; default the base name of
	// the running executable.
	Component string
	// Clock gives the time of entries and of retention and compression;
	// default time.Now.
	Clock func() time.Time
	// IDs returns a new entry id in UUID text form, time-ordered (UUIDv7);
	// default uuid.NewV7 (wall clock, monotonic within the process). It
	// also makes request ids for the middleware and for events without an
	// actor.
	IDs func() string
	// Keep is the number of most recent UTC days Retain keeps; 0 keeps
	// everything.
	Keep int
	// CompressAfter is how long after its end a day may be compressed;
	// 0 means 24 h. RunRetention compresses only when it is set.
	CompressAfter time.Duration
	// Chain turns on tamper evidence: every entry gets seq, prev_hash and
	// hash (see Verify). Chained writes serialise on the chain head.
	Chain bool
	// ChainKey, when set with Chain, makes the chain a keyed MAC: hash is
	// HMAC-SHA256 with this key instead of SHA-256, so that a writer
	// without the key cannot forge a consistent chain. Verify needs the
	// same key.
	ChainKey []byte
	// Redact, when set, runs on every entry before it is written,
	// middleware entries and library events alike (see RedactKeys).
	Redact func(*Entry)
	// Logger receives failures that cannot be returned, e.g. an event
	// entry lost after its change committed; default slog.Default().
	Logger *slog.Logger
}

// Trail is an audit trail stored in a backends.Store. It is safe for
// concurrent use; it holds no state of its own besides its options, so
// several Trails (even in several processes) may share one store.
type Trail struct {
	store         backends.Store
	component     string
	clock         func() time.Time
	ids           func() string
	keep          int
	compressAfter time.Duration
	autoCompress  bool
	chain         bool
	chainKey      []byte
	redact        func(*Entry)
	log           *slog.Logger

	// batch bounds the entries one retention transaction deletes.
	batch int
	// hook, when set by a test, is called between retention steps.
	hook func(step string)
}

// New returns a Trail stored in store. It fails with ErrInvalidArgument for
// a nil store or a negative Keep or CompressAfter.
func New(store backends.Store, opts *Options) (*Trail, error) {
	if store == nil {
		return nil, errdefs.Errorf(ErrInvalidArgument, "audit: store is nil")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Keep < 0 {
		return nil, errdefs.Errorf(ErrInvalidArgument, "audit: Keep %d is negative", o.Keep)
	}
	if o.CompressAfter < 0 {
		return nil, errdefs.Errorf(ErrInvalidArgument, "audit: CompressAfter %s is negative", o.CompressAfter)
	}
	t := &Trail{
		store:         store,
		component:     o.Component,
		clock:         o.Clock,
		ids:           o.IDs,
		keep:          o.Keep,
		compressAfter: o.CompressAfter,
		autoCompress:  o.CompressAfter > 0,
		chain:         o.Chain,
		chainKey:      bytes.Clone(o.ChainKey),
		redact:        o.Redact,
		log:           o.Logger,
		batch:         512,
	}
	if t.component == "" {
		t.component = filepath.Base(os.Args[0])
	}
	if t.clock == nil {
		t.clock = time.Now
	}
	if t.ids == nil {
		t.ids = newV7
	}
	if t.compressAfter == 0 {
		t.compressAfter = 24 * time.Hour
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	return t, nil
}

// Write stores e in its own transaction. An empty id, component or a zero
// timestamp is filled first, then Options.Redact runs; the type and phase
// must be valid and the timestamp not before 1970, else Write returns an
// error wrapping ErrInvalidArgument and stores nothing. When Write returns
// nil, Search finds the entry, and *e holds what was stored (filled,
// redacted, with its chain fields); on error *e is unchanged.
func (t *Trail) Write(ctx context.Context, e *Entry) error {
	var stored Entry
	err := t.store.Update(ctx, func(tx backends.Tx) error {
		c := *e
		if err := t.WriteTx(tx, &c); err != nil {
			return err
		}
		stored = c
		return nil
	})
	if err != nil {
		return err
	}
	*e = stored
	return nil
}

// WriteTx stores e inside the caller's transaction tx of the trail's own
// store, so that the entry commits or rolls back with the caller's change.
// It fills and validates e as Write does and updates *e on success. It may
// run once per attempt of a retried transaction; only the committed attempt
// leaves an entry.
func (t *Trail) WriteTx(tx backends.Tx, e *Entry) error {
	c := *e
	if c.ID == "" {
		c.ID = t.ids()
	}
	if c.Component == "" {
		c.Component = t.component
	}
	if c.Timestamp.IsZero() {
		c.Timestamp = t.clock()
	}
	c.Timestamp = c.Timestamp.UTC()
	if t.redact != nil {
		t.redact(&c)
	}
	c.Seq, c.PrevHash, c.Hash = 0, "", ""
	id, err := c.validate()
	if err != nil {
		return err
	}
	if t.chain {
		if err := t.link(tx, &c); err != nil {
			return err
		}
	}
	value, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("audit: encode entry %s: %w", c.ID, err)
	}
	key := entryKey(c.Timestamp, c.Phase, id)
	day := dayOf(c.Timestamp)
	if err := tx.Put(dayBucket(day), key, value); err != nil {
		return err
	}
	if c.RequestID != "" {
		if err := tx.Put(rqidBucket, rqidKey(c.RequestID, key), nil); err != nil {
			return err
		}
	}
	if t.chain {
		if err := tx.Put(seqBucket, seqKey(c.Seq), key); err != nil {
			return err
		}
	}
	if _, err := getDay(tx, day); errors.Is(err, backends.ErrNotFound) {
		if err := putDay(tx, day, dayInfo{State: dayOpen}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	*e = c
	return nil
}

// link gives c its place in the hash chain and moves the head.
func (t *Trail) link(tx backends.Tx, c *Entry) error {
	head, err := getPoint(tx, headKey)
	if err != nil {
		return err
	}
	if c.Timestamp.Before(head.Time) {
		c.Timestamp = head.Time
	}
	c.Seq = head.Seq + 1
	c.PrevHash = head.Hash
	h, err := t.entryHash(c)
	if err != nil {
		return err
	}
	c.Hash = h
	return putPoint(tx, headKey, chainPoint{Seq: c.Seq, Hash: c.Hash, Time: c.Timestamp})
}

// entryHash is SHA-256 (with Options.ChainKey, HMAC-SHA256 keyed with
// it) of the previous hash followed by the entry's JSON with hash empty,
// in hex.
func (t *Trail) entryHash(e *Entry) (string, error) {
	c := *e
	c.Hash = ""
	js, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("audit: encode entry %s: %w", c.ID, err)
	}
	h := sha256.New()
	if t.chainKey != nil {
		h = hmac.New(sha256.New, t.chainKey)
	}
	h.Write([]byte(c.PrevHash))
	h.Write(js)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// newV7 returns a new UUIDv7 in text form.
func newV7() string {
	u, err := uuid.NewV7()
	if err != nil {
		// Only a failing system random source gets here.
		return uuid.New().String()
	}
	return u.String()
}

// shares reports whether store is the trail's own store.
func (t *Trail) shares(store backends.Store) bool {
	a, b := reflect.TypeOf(t.store), reflect.TypeOf(store)
	return a == b && a.Comparable() && t.store == store
}

// Day states of the day index.
const (
	dayOpen        = "open"
	dayCompressing = "compressing"
	dayCompressed  = "compressed"
	dayDropping    = "dropping"
)

// dayInfo is a day index value.
type dayInfo struct {
	State string `json:"state"`
	// Cursor is where compression resumes: the successor of the last key
	// put into a block.
	Cursor []byte `json:"cursor,omitempty"`
	// AnchorSeq and AnchorHash are the chain position of the highest seq
	// dropped so far from a dropping day.
	AnchorSeq  uint64 `json:"anchor_seq,omitempty"`
	AnchorHash string `json:"anchor_hash,omitempty"`
}

func getDay(tx backends.Tx, day string) (dayInfo, error) {
	var d dayInfo
	v, err := tx.Get(daysBucket, []byte(day))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(v, &d); err != nil {
		return d, errdefs.Errorf(ErrCorrupt, "audit: day index of %s: %v", day, err)
	}
	return d, nil
}

func putDay(tx backends.Tx, day string, d dayInfo) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Put(daysBucket, []byte(day), v)
}

// chainPoint is a position in the hash chain: the head or the anchor.
type chainPoint struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"timestamp"`
}

// getPoint returns the chain point under key, the zero point when absent.
func getPoint(tx backends.Tx, key []byte) (chainPoint, error) {
	var p chainPoint
	v, err := tx.Get(chainBucket, key)
	if errors.Is(err, backends.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(v, &p); err != nil {
		return p, errdefs.Errorf(ErrCorrupt, "audit: chain %s: %v", key, err)
	}
	return p, nil
}

func putPoint(tx backends.Tx, key []byte, p chainPoint) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return tx.Put(chainBucket, key, v)
}
