package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/machine"
)

// updater commits a change: fn in one transaction of the catalog's store,
// recorded as an event entry with the given detail, path and body. fn may
// run more than once.
type updater func(ctx context.Context, detail, path string, body any, fn func(tx backends.Tx) error) error

// CatalogOptions configure a Catalog. A nil *CatalogOptions means the wall
// clock and random UUIDs.
type CatalogOptions struct {
	// Clock gives the created and changed times; default time.Now (UTC).
	Clock func() time.Time
	// IDs makes the id of a project created without one; default random
	// UUIDs (as metal-stack's masterdata-api does).
	IDs func() string
}

// Catalog keeps what the server owns besides the library's state:
// partitions, projects, images and filesystem layouts, each in a bucket of
// its own in the store (see Buckets), each operation one transaction.
//
// Its methods Partition, Project and Image answer the library's catalog
// questions (network.Catalog and, for machines, the image check), so a
// Catalog can be given to the library's services as their catalog. It is
// safe for concurrent use.
type Catalog struct {
	store  backends.Store
	update updater
	clock  func() time.Time
	ids    func() string
	// machines is the kit's machine service, set by New: the uses of
	// images and projects are read from it. Nil counts no machines.
	machines *machine.Service
}

// NewCatalog returns a Catalog over store. Its changes record no audit
// events until a Server is built with it (New binds it to the kit's trail).
func NewCatalog(store backends.Store, opts *CatalogOptions) *Catalog {
	var o CatalogOptions
	if opts != nil {
		o = *opts
	}
	c := &Catalog{store: store, clock: o.Clock, ids: o.IDs}
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.ids == nil {
		c.ids = uuid.NewString
	}
	c.update = trailUpdater(nil, store)
	return c
}

// now returns the catalog's time in UTC.
func (c *Catalog) now() time.Time { return c.clock().UTC() }

// view runs fn in one read-only transaction.
func (c *Catalog) view(ctx context.Context, fn func(tx backends.Tx) error) error {
	return c.store.View(ctx, fn)
}

// Partition returns nil when the partition exists, an error matching
// errdefs.ErrNotFound when it does not, and errdefs.ErrInvalidArgument for
// an id that no partition can have. One read.
func (c *Catalog) Partition(ctx context.Context, id string) error {
	return exists(ctx, c, partitions, "partition id", id)
}

// Project returns nil when the project exists, an error matching
// errdefs.ErrNotFound when it does not, and errdefs.ErrInvalidArgument for
// an id that no project can have. One read.
func (c *Catalog) Project(ctx context.Context, id string) error {
	return exists(ctx, c, projects, "project id", id)
}

// exists returns nil when entity id of kind k exists, an error matching
// errdefs.ErrNotFound when it does not, and errdefs.ErrInvalidArgument
// for an id (named field in the message) that no entity can have. One
// read.
func exists[T any](ctx context.Context, c *Catalog, k kind[T], field, id string) error {
	if err := limits.ID(field, id); err != nil {
		return err
	}
	return c.view(ctx, func(tx backends.Tx) error {
		_, err := k.get(tx, id)
		return err
	})
}

// Quota reports the machine quota of a project (its quotas.machine.quota),
// for role machine; firewalls are not counted against it (metal-api counts
// them with the machines) and have no quota. A project without a machine
// quota sets no limit; an unknown project is not found.
func (c *Catalog) Quota(ctx context.Context, projectID, role string) (int, bool, error) {
	var max int
	var set bool
	err := c.view(ctx, func(tx backends.Tx) error {
		p, err := getProjectTx(tx, projectID)
		if err != nil {
			return err
		}
		max, set = 0, false
		if role == ImageForMachine && p.Quotas != nil && p.Quotas.Machine != nil && p.Quotas.Machine.Quota != nil {
			max, set = int(*p.Quotas.Machine.Quota), true
		}
		return nil
	})
	return max, set, err
}

// The roles of a machine an image can serve, named by an image's
// features; the role argument of Catalog.Image.
const (
	ImageForMachine  = "machine"
	ImageForFirewall = "firewall"
)

// Image returns nil when imageID names an image that can be used for role
// (ImageForMachine or ImageForFirewall, by the image's features). The id resolves
// as metal-api resolves an allocation's image: an exact version
// (ubuntu-24.04.20240501) or the most recent image of a shorter one
// (ubuntu-24.04). An absent image gives an error matching
// errdefs.ErrNotFound; an unknown role or an image without the role's
// feature gives errdefs.ErrInvalidArgument. sizeID is not checked yet: the
// server keeps no size-image constraints. It scans the image bucket once.
func (c *Catalog) Image(ctx context.Context, imageID, role, sizeID string) error {
	if role != ImageForMachine && role != ImageForFirewall {
		return invalid("role %s: want %q or %q", quote(role), ImageForMachine, ImageForFirewall)
	}
	if err := limits.ID("image id", imageID); err != nil {
		return err
	}
	if err := limits.OptionalID("size id", sizeID); err != nil {
		return err
	}
	img, err := viewValue(ctx, c, func(tx backends.Tx) (*image, error) { return latestImageTx(tx, imageID) })
	if err != nil {
		return err
	}
	if !img.hasFeature(role) {
		return invalid("image %s cannot be used for a %s: its features are %v", quote(img.ID), role, img.Features)
	}
	return nil
}

// allocatedMachines returns the allocated machines, read in tx (none
// before New set the machine service).
func (c *Catalog) allocatedMachines(ctx context.Context, tx backends.Tx, f machine.Filter) ([]*machine.Machine, error) {
	if c.machines == nil {
		return nil, nil
	}
	allocated := true
	f.Allocated = &allocated
	return c.machines.Bind(ctx, tx, nil).List(f)
}

// getJSON reads the entity id of bucket into v. An absent one gives an
// error matching errdefs.ErrNotFound that names kind and id; a value that
// does not decode gives errdefs.ErrCorrupt.
func getJSON(tx backends.Tx, bucket, kind, id string, v any) error {
	b, err := tx.Get(bucket, []byte(id))
	if errors.Is(err, backends.ErrNotFound) {
		return notFound("%s %s not found", kind, quote(id))
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", kind, quote(id), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return corrupt("%s %s: the stored value does not decode: %v", kind, quote(id), err)
	}
	return nil
}

// checkNew returns nil when bucket does not hold id yet, else an error of
// class conflict that names kind and id.
func checkNew(tx backends.Tx, bucket, kind, id string) error {
	_, err := tx.Get(bucket, []byte(id))
	switch {
	case errors.Is(err, backends.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return conflict("%s %s already exists", kind, quote(id))
}

// putJSON stores v as JSON under id in bucket.
func putJSON(tx backends.Tx, bucket, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, []byte(id), b)
}

// kind is a kind of the catalog's entities, stored as JSON in a bucket of
// its own under their ids. Its changes are recorded as events with detail
// "<name>.create" (.update, .delete) and path "<name>/<id>".
type kind[T any] struct {
	// name names the kind in messages and in the audit trail.
	name   string
	bucket string
}

// The kinds of the catalog's entities.
var (
	partitions = kind[partition]{"partition", bucketPartition}
	projects   = kind[project]{"project", bucketProject}
	images     = kind[image]{"image", bucketImage}
	layouts    = kind[filesystemLayout]{"filesystem layout", bucketFilesystemLayout}
)

// get reads entity id, an error matching errdefs.ErrNotFound when there
// is none (see getJSON).
func (k kind[T]) get(tx backends.Tx, id string) (*T, error) {
	var v T
	if err := getJSON(tx, k.bucket, k.name, id, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// list reads every entity, in id order. One scan.
func (k kind[T]) list(tx backends.Tx) ([]*T, error) { return listJSON[T](tx, k.bucket, k.name) }

// create stores v, validated by the caller, as the new entity id with the
// created times stamp sets, recording body. An entity with that id is a
// conflict. One transaction.
func (k kind[T]) create(ctx context.Context, c *Catalog, id string, body any, v *T, stamp func(*T)) (*T, error) {
	return updateValue(ctx, c, k.name+".create", k.name+"/"+id, body, func(tx backends.Tx) (*T, error) {
		if err := checkNew(tx, k.bucket, k.name, id); err != nil {
			return nil, err
		}
		out := *v
		stamp(&out)
		return &out, putJSON(tx, k.bucket, id, &out)
	})
}

// update reads entity id, changes it with change (which returns every
// problem of the result) and stores it, recording body. One transaction.
func (k kind[T]) update(ctx context.Context, c *Catalog, id string, body any, change func(*T) error) (*T, error) {
	if err := limits.ID("id", id); err != nil {
		return nil, err
	}
	return updateValue(ctx, c, k.name+".update", k.name+"/"+id, body, func(tx backends.Tx) (*T, error) {
		v, err := k.get(tx, id)
		if err != nil {
			return nil, err
		}
		if err := change(v); err != nil {
			return nil, err
		}
		return v, putJSON(tx, k.bucket, id, v)
	})
}

// delete removes entity id unless inUse, reading in the same
// transaction, says why it cannot go. It returns the removed entity. One
// transaction.
func (k kind[T]) delete(ctx context.Context, c *Catalog, id string, inUse func(tx backends.Tx) error) (*T, error) {
	if err := limits.ID("id", id); err != nil {
		return nil, err
	}
	return updateValue(ctx, c, k.name+".delete", k.name+"/"+id, map[string]string{"id": id}, func(tx backends.Tx) (*T, error) {
		v, err := k.get(tx, id)
		if err != nil {
			return nil, err
		}
		if err := inUse(tx); err != nil {
			return nil, err
		}
		return v, tx.Delete(k.bucket, []byte(id))
	})
}

// listAll answers every entity of k, in id order. One scan.
func listAll[T any](s *Server, w http.ResponseWriter, r *http.Request, k kind[T]) {
	all, err := viewValue(r.Context(), s.cat, k.list)
	s.reply(w, r, http.StatusOK, all, err)
}

// getOne answers the entity of k the path names.
func getOne[T any](s *Server, w http.ResponseWriter, r *http.Request, k kind[T]) {
	id := r.PathValue("id")
	v, err := viewValue(r.Context(), s.cat, func(tx backends.Tx) (*T, error) { return k.get(tx, id) })
	s.reply(w, r, http.StatusOK, v, err)
}

// matching returns the entities of all that match, in order; none gives
// an empty slice.
func matching[T any](all []*T, match func(*T) bool) []*T {
	out := []*T{}
	for _, e := range all {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// saved answers, with status, what save makes of the body of r decoded
// as a B, or the first error.
func saved[B, T any](s *Server, w http.ResponseWriter, r *http.Request, status int, save func(context.Context, *B) (T, error)) {
	var body B
	err := decodeBody(r, &body)
	var v T
	if err == nil {
		v, err = save(r.Context(), &body)
	}
	s.reply(w, r, status, v, err)
}

// withChecks gives save the problems check finds in the request (the
// server's URL checks).
func withChecks[B, T any](check func(context.Context, *B) []error, save func(context.Context, *B, []error) (T, error)) func(context.Context, *B) (T, error) {
	return func(ctx context.Context, body *B) (T, error) { return save(ctx, body, check(ctx, body)) }
}

// listJSON decodes every value of bucket, in id order. One scan.
func listJSON[T any](tx backends.Tx, bucket, kind string) ([]*T, error) {
	out := []*T{}
	err := tx.Ascend(bucket, nil, func(k, v []byte) (bool, error) {
		var e T
		if err := json.Unmarshal(v, &e); err != nil {
			return false, corrupt("%s %s: the stored value does not decode: %v", kind, quote(string(k)), err)
		}
		out = append(out, &e)
		return true, nil
	})
	return out, err
}

// viewValue runs fn in one read-only transaction and returns its result.
func viewValue[T any](ctx context.Context, c *Catalog, fn func(tx backends.Tx) (T, error)) (T, error) {
	return resultOf(func(f func(backends.Tx) error) error { return c.view(ctx, f) }, fn)
}

// updateValue commits fn as one recorded change and returns its result.
func updateValue[T any](ctx context.Context, c *Catalog, detail, path string, body any, fn func(tx backends.Tx) (T, error)) (T, error) {
	return resultOf(func(f func(backends.Tx) error) error { return c.update(ctx, detail, path, body, f) }, fn)
}
