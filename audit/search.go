package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// DefaultLimit is the number of entries Search returns when Filter.Limit
// is 0.
const DefaultLimit = 100

// Filter selects entries. Every non-empty field must match (AND); the zero
// Filter selects everything. JSON names are metal-api's.
type Filter struct {
	// Limit is the most entries returned, over the whole result; 0 means
	// DefaultLimit, negative is an error.
	Limit int `json:"limit,omitempty"`
	// From and To bound the timestamp, both inclusive; zero leaves that
	// side open. From after To is an error.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`

	// Exact matches.
	Component string `json:"component,omitempty"`
	RequestID string `json:"rqid,omitempty"`
	Type      Type   `json:"type,omitempty"`
	User      string `json:"user,omitempty"`
	Tenant    string `json:"tenant,omitempty"`
	Project   string `json:"project,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Phase     Phase  `json:"phase,omitempty"`
	// StatusCode, when not nil, must equal the entry's status code; point
	// it to 0 to find entries without one.
	StatusCode *int `json:"status_code,omitempty"`

	// Case-sensitive substring matches.
	Path         string `json:"path,omitempty"`
	ForwardedFor string `json:"forwarded_for,omitempty"`
	RemoteAddr   string `json:"remote_addr,omitempty"`
	Error        string `json:"error,omitempty"`

	// Body is a query over the entry's body, path and error: it matches
	// when every unquoted word of the query is a word of one of them and
	// every quoted phrase appears there as consecutive words, or when the
	// whole query is a substring of one of them. Words are runs of letters
	// and digits; comparisons fold case; a lone double quote is ignored.
	Body string `json:"body,omitempty"`

	// After is the continuation token of a previous result: the search
	// resumes right behind the last entry that result returned.
	After string `json:"after,omitempty"`
}

// Result is one page of a search.
type Result struct {
	// Entries are newest first: by timestamp, then phase order, then id,
	// each highest first.
	Entries []Entry `json:"entries"`
	// Next is set when the limit cut the result: pass it as Filter.After
	// for the following page. Empty means there is no more.
	Next string `json:"next,omitempty"`
}

// plan is a validated filter.
type plan struct {
	f     Filter
	limit int
	start []byte // highest key that may match, nil: no bound
	after []byte // keys >= after are excluded, nil: none
	lo    []byte // lowest key that may match, nil: no bound
	body  *bodyQuery
	// needles must all occur in an entry's JSON for it to match; a cheap
	// test before decoding.
	needles [][]byte
}

func (f *Filter) plan() (*plan, error) {
	p := &plan{f: *f, limit: f.Limit}
	var errs []error
	if f.Limit < 0 {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: limit %d is negative", f.Limit))
	}
	if p.limit == 0 {
		p.limit = DefaultLimit
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: from %s is after to %s",
			f.From.Format(time.RFC3339Nano), f.To.Format(time.RFC3339Nano)))
	}
	if f.Type != "" && !f.Type.Valid() {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: type %q is not http, grpc or event", f.Type))
	}
	if f.Phase != "" && !f.Phase.Valid() {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: phase %q is not opened, request, single, response, error or closed", f.Phase))
	}
	if f.After != "" {
		k, err := base64.RawURLEncoding.DecodeString(f.After)
		if err != nil || len(k) != entryKeyLen {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: after %q is not a continuation token", f.After))
		}
		p.after = k
		p.start = k
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !f.To.IsZero() {
		switch {
		case f.To.Before(time.Unix(0, 0)):
			p.start = []byte{} // nothing can match
		case f.To.Before(latest):
			if k := timeCeil(f.To); p.start == nil || bytes.Compare(k, p.start) < 0 {
				p.start = k
			}
		}
	}
	if !f.From.IsZero() {
		switch {
		case f.From.After(latest):
			p.start = []byte{}
		case f.From.After(time.Unix(0, 0)):
			p.lo = timeFloor(f.From)
		}
	}
	if f.Body != "" {
		p.body = parseBodyQuery(f.Body)
	}
	for _, x := range []struct{ name, value string }{
		{"component", f.Component}, {"rqid", f.RequestID}, {"type", string(f.Type)},
		{"user", f.User}, {"tenant", f.Tenant}, {"project", f.Project},
		{"detail", f.Detail}, {"phase", string(f.Phase)},
	} {
		if x.value != "" {
			v, _ := json.Marshal(x.value)
			p.needles = append(p.needles, append([]byte(`"`+x.name+`":`), v...))
		}
	}
	return p, nil
}

// empty reports whether no key can match.
func (p *plan) empty() bool {
	return p.start != nil && (len(p.start) == 0 || (p.lo != nil && bytes.Compare(p.start, p.lo) < 0))
}

func (p *plan) inRange(k []byte) bool {
	return (p.start == nil || bytes.Compare(k, p.start) <= 0) &&
		(p.after == nil || bytes.Compare(k, p.after) < 0) &&
		(p.lo == nil || bytes.Compare(k, p.lo) >= 0)
}

func (p *plan) match(raw []byte) (Entry, bool, error) {
	var e Entry
	for _, n := range p.needles {
		if !bytes.Contains(raw, n) {
			return e, false, nil
		}
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, false, errdefs.Errorf(ErrCorrupt, "audit: entry: %v", err)
	}
	f := &p.f
	ok := (f.Component == "" || e.Component == f.Component) &&
		(f.RequestID == "" || e.RequestID == f.RequestID) &&
		(f.Type == "" || e.Type == f.Type) &&
		(f.User == "" || e.User == f.User) &&
		(f.Tenant == "" || e.Tenant == f.Tenant) &&
		(f.Project == "" || e.Project == f.Project) &&
		(f.Detail == "" || e.Detail == f.Detail) &&
		(f.Phase == "" || e.Phase == f.Phase) &&
		(f.StatusCode == nil || e.StatusCode == *f.StatusCode) &&
		strings.Contains(e.Path, f.Path) &&
		strings.Contains(e.ForwardedFor, f.ForwardedFor) &&
		strings.Contains(e.RemoteAddr, f.RemoteAddr) &&
		strings.Contains(e.Error, f.Error) &&
		(p.body == nil || p.body.match(bodyText(e.Body), e.Path, e.Error))
	return e, ok, nil
}

// bodyText is the text a body query reads: a string body unquoted, any
// other body as its JSON text.
func bodyText(b json.RawMessage) string {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			return s
		}
	}
	return string(b)
}

// collector gathers up to limit+1 matching entries.
type collector struct {
	p       *plan
	entries []Entry
	keys    [][]byte
}

// add offers one stored entry; it returns false once enough were found.
func (c *collector) add(s stored) (bool, error) {
	if !c.p.inRange(s.key) {
		return true, nil
	}
	e, ok, err := c.p.match(s.raw)
	if err != nil || !ok {
		return err == nil, err
	}
	c.entries = append(c.entries, e)
	c.keys = append(c.keys, s.key)
	return len(c.entries) <= c.p.limit, nil
}

// Search returns the entries that match f, newest first, at most f.Limit
// (default 100) of them, and a continuation token when the limit cut the
// result. An rqid search reads its index; any other reads days newest first
// within the range, each backwards from its upper end, and stops at the
// limit. Days being dropped by retention are skipped. Search reads one
// consistent state of the store. An invalid filter gives an error wrapping
// ErrInvalidArgument.
func (t *Trail) Search(ctx context.Context, f Filter) (*Result, error) {
	p, err := f.plan()
	if err != nil {
		return nil, err
	}
	var c *collector
	err = t.store.View(ctx, func(tx backends.Tx) error {
		c = &collector{p: p}
		if p.empty() {
			return nil
		}
		if f.RequestID != "" {
			return searchRequest(tx, p, c)
		}
		return searchDays(tx, p, c)
	})
	if err != nil {
		return nil, err
	}
	res := &Result{Entries: c.entries}
	if len(res.Entries) > p.limit {
		res.Entries = res.Entries[:p.limit]
		res.Next = base64.RawURLEncoding.EncodeToString(c.keys[p.limit-1])
	}
	if res.Entries == nil {
		res.Entries = []Entry{}
	}
	return res, nil
}

// searchDays reads the day buckets newest first.
func searchDays(tx backends.Tx, p *plan, c *collector) error {
	var from []byte
	if p.start != nil {
		from = []byte(keyDay(p.start))
	}
	loDay := ""
	if p.lo != nil {
		loDay = keyDay(p.lo)
	}
	type day struct {
		name string
		info dayInfo
	}
	var days []day
	err := tx.Descend(daysBucket, from, func(k, v []byte) (bool, error) {
		if string(k) < loDay {
			return false, nil
		}
		var d dayInfo
		if err := json.Unmarshal(v, &d); err != nil {
			return false, errdefs.Errorf(ErrCorrupt, "audit: day index of %s: %v", k, err)
		}
		if d.State != dayDropping {
			days = append(days, day{string(k), d})
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, d := range days {
		more := true
		err := scanDay(tx, d.name, d.info, p.start, p.lo, func(s stored) (bool, error) {
			var err error
			more, err = c.add(s)
			return more, err
		})
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// prefetchEntries announces the reads of the entries keys name and of
// their days' index entries, so that a networked store fetches a chunk in
// one round trip instead of one per entry.
func prefetchEntries(tx backends.Tx, keys [][]byte) error {
	var reads []backends.Read
	days := map[string]bool{}
	for _, k := range keys {
		day := keyDay(k)
		if !days[day] {
			days[day] = true
			reads = append(reads, backends.ReadKey(daysBucket, []byte(day)))
		}
		reads = append(reads, backends.ReadKey(dayBucket(day), k))
	}
	return backends.Prefetch(tx, reads...)
}

// searchRequest reads the rqid index, a chunk of keys at a time, and then
// the entries it names, each chunk's entries in one batched read.
func searchRequest(tx backends.Tx, p *plan, c *collector) error {
	const chunk = 64
	prefix := rqidPrefix(p.f.RequestID)
	var from []byte
	if p.start != nil {
		from = append(bytes.Clone(prefix), p.start...)
	}
	r := newReader(tx)
	var skip []byte
	for {
		var keys [][]byte
		done := true
		err := backends.DescendPrefix(tx, rqidBucket, prefix, from, func(k, _ []byte) (bool, error) {
			if len(k) != len(prefix)+entryKeyLen {
				return false, nil
			}
			ek := k[len(prefix):]
			if p.lo != nil && bytes.Compare(ek, p.lo) < 0 {
				return false, nil
			}
			if skip != nil && bytes.Equal(ek, skip) {
				return true, nil
			}
			keys = append(keys, ek)
			if len(keys) == chunk {
				done = false
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if err := prefetchEntries(tx, keys); err != nil {
			return err
		}
		for _, ek := range keys {
			d, err := r.day(keyDay(ek))
			if err != nil {
				return err
			}
			if d == nil || d.State == dayDropping {
				continue
			}
			raw, err := r.get(ek)
			if errors.Is(err, backends.ErrNotFound) {
				continue // an index key without its entry: skip it
			}
			if err != nil {
				return err
			}
			more, err := c.add(stored{key: ek, raw: raw})
			if err != nil || !more {
				return err
			}
		}
		if done {
			return nil
		}
		skip = keys[len(keys)-1]
		from = append(bytes.Clone(prefix), skip...)
	}
}
