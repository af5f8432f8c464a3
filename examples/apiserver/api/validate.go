package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// deref returns *p, or the zero value ("", false, 0) for nil: a field the
// client sent as null or not at all is "not given".
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// givenTime returns t, or nil when t is nil or the zero time: metal-go
// sends an unset date as 0001-01-01T00:00:00.000Z.
func givenTime(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// checkHTTPURL checks that s is an absolute http or https URL with a host.
func checkHTTPURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return invalid("%s %s is not a URL: %v", field, quote(s), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("%s %s: want an http or https URL", field, quote(s))
	}
	if u.Host == "" {
		return invalid("%s %s has no host", field, quote(s))
	}
	return nil
}

// urlCheck is the check of Options.CheckURL.
type urlCheck func(ctx context.Context, field, url string) error

// run checks a URL that passed checkHTTPURL; a nil check accepts it.
func (c urlCheck) run(ctx context.Context, field, s string) error {
	if c == nil || s == "" {
		return nil
	}
	if err := c(ctx, field, s); err != nil {
		return invalid("%s %s: %v", field, quote(s), err)
	}
	return nil
}

// isDNSName reports whether s is a DNS host name: dot-separated labels of
// letters, digits and hyphens, each 1 to 63 bytes and not starting or
// ending with a hyphen, 253 bytes at most in all (a trailing dot allowed).
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// boolQuery reads a boolean query parameter; absent is false.
func boolQuery(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid("the query parameter %s %s is not a boolean", name, quote(v))
	}
	return b, nil
}
