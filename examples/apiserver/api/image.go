package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/machine"
)

// DefaultImageExpiration is how long an image created without an
// expiration date stays valid (metal-api's 90 days).
const DefaultImageExpiration = 90 * 24 * time.Hour

// The classifications of an image; the first is the default.
var classifications = []string{"preview", "supported", "deprecated"}

// image is an image as stored and answered (metal-api's v1.ImageResponse).
type image struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	URL            string    `json:"url"`
	Features       []string  `json:"features"`
	ExpirationDate time.Time `json:"expirationDate"`
	Classification string    `json:"classification"`
	UsedBy         []string  `json:"usedby"`
	Created        time.Time `json:"created"`
	Changed        time.Time `json:"changed"`
}

func (img *image) hasFeature(f string) bool { return slices.Contains(img.Features, f) }

// imageRequest is the body of a create or update (metal-api's
// v1.ImageCreateRequest and v1.ImageUpdateRequest). A nil field, and an
// unset date, was not given; usedby is ignored.
type imageRequest struct {
	ID             *string    `json:"id"`
	Name           *string    `json:"name"`
	Description    *string    `json:"description"`
	URL            *string    `json:"url"`
	Features       []string   `json:"features"`
	ExpirationDate *time.Time `json:"expirationDate"`
	Classification *string    `json:"classification"`
}

// imageFindRequest is metal-api's image search query: every given field
// must match; features must all be present.
type imageFindRequest struct {
	ID             *string  `json:"id"`
	Name           *string  `json:"name"`
	Features       []string `json:"features"`
	OS             *string  `json:"os"`
	Version        *string  `json:"version"`
	Classification *string  `json:"classification"`
}

func (f *imageFindRequest) match(img *image) bool {
	if !givenEq(f.ID, img.ID) || !givenEq(f.Name, img.Name) || !givenEq(f.Classification, img.Classification) {
		return false
	}
	if f.OS != nil || f.Version != nil {
		os, v, err := osVersion(img.ID)
		if err != nil || !givenEq(f.OS, os) || !givenEq(f.Version, v.String()) {
			return false
		}
	}
	for _, want := range f.Features {
		if !img.hasFeature(want) {
			return false
		}
	}
	return true
}

// osVersion splits an image id at its last hyphen into the OS and a
// semantic version, as metal-api does: ubuntu-small-24.04.20240501 is OS
// ubuntu-small, version 24.4.20240501.
func osVersion(id string) (string, *semver.Version, error) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", nil, invalid("id %s: want <os>-<major>.<minor>[.<patch>], e.g. ubuntu-24.04 or ubuntu-24.04.20240501", quote(id))
	}
	v, err := semver.NewVersion(id[i+1:])
	if err != nil {
		return "", nil, invalid("id %s: %s is not a semantic version: %v", quote(id), quote(id[i+1:]), err)
	}
	return id[:i], v, nil
}

// apply copies the given fields of req onto img and returns the problems
// of the features and the classification.
func (req *imageRequest) apply(img *image) []error {
	var errs []error
	if req.Name != nil {
		img.Name = *req.Name
	}
	if req.Description != nil {
		img.Description = *req.Description
	}
	if req.URL != nil {
		img.URL = *req.URL
	}
	if len(req.Features) > 0 {
		var fs []string
		for i, f := range req.Features {
			if f != ImageForMachine && f != ImageForFirewall {
				errs = append(errs, invalid("features[%d] %s: want %q or %q", i, quote(f), ImageForMachine, ImageForFirewall))
				continue
			}
			if !slices.Contains(fs, f) {
				fs = append(fs, f)
			}
		}
		slices.Sort(fs)
		img.Features = fs
	}
	if req.Classification != nil {
		if !slices.Contains(classifications, *req.Classification) {
			errs = append(errs, invalid("classification %s: want one of %s", quote(*req.Classification), strings.Join(classifications, ", ")))
		} else {
			img.Classification = *req.Classification
		}
	}
	if t := givenTime(req.ExpirationDate); t != nil {
		img.ExpirationDate = *t
	}
	return errs
}

// validate checks every field of an image to store and returns every
// problem (with nils for the checks that pass, which joinInvalid skips).
func (img *image) validate() []error {
	var errs []error
	if err := limits.ID("id", img.ID); err != nil {
		errs = append(errs, err)
	} else if _, _, err := osVersion(img.ID); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, limits.Name("name", img.Name), limits.Description("description", img.Description))
	if img.URL == "" {
		errs = append(errs, invalid("url is required"))
	} else {
		errs = append(errs, checkHTTPURL("url", img.URL))
	}
	return errs
}

// matchingImagesTx returns the images id names, most recent first: with a
// patch version exactly that version, else every version with the same
// major and minor (metal-api's tilde match) of the same OS. One scan.
func matchingImagesTx(tx backends.Tx, id string) ([]*image, error) {
	os, want, err := osVersion(id)
	if err != nil {
		return nil, notFound("no image for id %s: %v", quote(id), err)
	}
	op := "~"
	if want.Patch() > 0 {
		op = "="
	}
	constraint, err := semver.NewConstraint(op + want.String())
	if err != nil {
		return nil, notFound("no image for id %s: %v", quote(id), err)
	}
	all, err := images.list(tx)
	if err != nil {
		return nil, err
	}
	type versioned struct {
		img *image
		v   *semver.Version
	}
	var found []versioned
	for _, img := range all {
		o, v, err := osVersion(img.ID)
		if err != nil || o != os || !constraint.Check(v) {
			continue
		}
		found = append(found, versioned{img, v})
	}
	slices.SortStableFunc(found, func(a, b versioned) int { return b.v.Compare(a.v) })
	return mapAll(found, func(f versioned) *image { return f.img }), nil
}

// latestImageTx returns the most recent image id names (see
// matchingImagesTx), or an error matching errdefs.ErrNotFound.
func latestImageTx(tx backends.Tx, id string) (*image, error) {
	imgs, err := matchingImagesTx(tx, id)
	if err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, notFound("no image for id %s", quote(id))
	}
	return imgs[0], nil
}

// createImage stores a new image: features as given, classification
// preview and an expiration in DefaultImageExpiration unless given. One
// transaction.
func (c *Catalog) createImage(ctx context.Context, req *imageRequest, urlErrs []error) (*image, error) {
	now := c.now()
	img := &image{ID: deref(req.ID), Features: []string{}, Classification: classifications[0], ExpirationDate: now.Add(DefaultImageExpiration)}
	errs := append(req.apply(img), img.validate()...)
	if err := joinInvalid(append(errs, urlErrs...)); err != nil {
		return nil, err
	}
	return images.create(ctx, c, img.ID, req, img, func(img *image) { img.Created, img.Changed = now, now })
}

// updateImage changes the given fields of an image (features only when
// some are given). One transaction.
func (c *Catalog) updateImage(ctx context.Context, req *imageRequest, urlErrs []error) (*image, error) {
	return images.update(ctx, c, deref(req.ID), req, func(img *image) error {
		errs := append(req.apply(img), img.validate()...)
		img.Changed = c.now()
		return joinInvalid(append(errs, urlErrs...))
	})
}

// imageUsers maps image ids to the machines whose allocation uses them,
// an allocation's image id resolved as the allocation resolved it (an
// exact version, or the most recent image of a shorter one). One scan of
// the machines and one of the images per distinct image id.
func (c *Catalog) imageUsers(ctx context.Context, tx backends.Tx) (map[string][]string, error) {
	ms, err := c.allocatedMachines(ctx, tx, machine.Filter{})
	if err != nil {
		return nil, err
	}
	resolved := map[string]string{}
	out := map[string][]string{}
	for _, m := range ms {
		id := m.Allocation.ImageID
		full, ok := resolved[id]
		if !ok {
			img, err := latestImageTx(tx, id)
			switch {
			case absent(err):
				full = id
			case err != nil:
				return nil, err
			default:
				full = img.ID
			}
			resolved[id] = full
		}
		out[full] = append(out[full], m.ID)
	}
	return out, nil
}

// deleteImage removes an image that no allocated machine uses (metal-api
// refuses such a delete too). One transaction.
func (c *Catalog) deleteImage(ctx context.Context, id string) (*image, error) {
	return images.delete(ctx, c, id, func(tx backends.Tx) error {
		users, err := c.imageUsers(ctx, tx)
		if err != nil {
			return err
		}
		if ms := users[id]; len(ms) > 0 {
			return conflict("image %s is in use by %d machines (%s); free them or reinstall them with another image first", quote(id), len(ms), idList(ms))
		}
		return nil
	})
}

// showUsage reads the show-usage query parameter.
func showUsage(r *http.Request) (bool, error) { return boolQuery(r, "show-usage") }

// withUsers sets the usedby of imgs to the machines using each (see
// imageUsers), read in tx; an image without users keeps none.
func (c *Catalog) withUsers(ctx context.Context, tx backends.Tx, imgs []*image) error {
	users, err := c.imageUsers(ctx, tx)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if ms := users[img.ID]; len(ms) > 0 {
			img.UsedBy = ms
		}
	}
	return nil
}

// listImages answers every image; with show-usage=true each says which
// machines use it.
func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	s.answerImages(w, r, func(*image) bool { return true })
}

func (s *Server) getImage(w http.ResponseWriter, r *http.Request) { getOne(s, w, r, images) }

func (s *Server) latestImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	img, err := viewValue(r.Context(), s.cat, func(tx backends.Tx) (*image, error) { return latestImageTx(tx, id) })
	s.reply(w, r, http.StatusOK, img, err)
}

func (s *Server) queryImages(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	imgs, err := viewValue(r.Context(), s.cat, func(tx backends.Tx) ([]*image, error) { return matchingImagesTx(tx, id) })
	s.reply(w, r, http.StatusOK, imgs, err)
}

func (s *Server) findImages(w http.ResponseWriter, r *http.Request) {
	var f imageFindRequest
	if err := decodeFind(r, &f); err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerImages(w, r, f.match)
}

// answerImages answers the images match selects; with show-usage=true
// each says which machines use it, read in the same transaction.
func (s *Server) answerImages(w http.ResponseWriter, r *http.Request, match func(*image) bool) {
	usage, err := showUsage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	imgs, err := viewValue(r.Context(), s.cat, func(tx backends.Tx) ([]*image, error) {
		all, err := images.list(tx)
		if err != nil {
			return nil, err
		}
		out := matching(all, match)
		if !usage {
			return out, nil
		}
		return out, s.cat.withUsers(r.Context(), tx, out)
	})
	s.reply(w, r, http.StatusOK, imgs, err)
}

// checkImageURL runs the server's URL check on a request's URL.
func (s *Server) checkImageURL(ctx context.Context, req *imageRequest) []error {
	if req.URL == nil || checkHTTPURL("url", *req.URL) != nil {
		return nil
	}
	if err := s.checkURL.run(ctx, "url", *req.URL); err != nil {
		return []error{err}
	}
	return nil
}

func (s *Server) createImage(w http.ResponseWriter, r *http.Request) {
	saved(s, w, r, http.StatusCreated, withChecks(s.checkImageURL, s.cat.createImage))
}

func (s *Server) updateImage(w http.ResponseWriter, r *http.Request) {
	saved(s, w, r, http.StatusOK, withChecks(s.checkImageURL, s.cat.updateImage))
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request) {
	img, err := s.cat.deleteImage(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, img, err)
}
