package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/metal-stack/security"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// TestStatusTable checks the one mapping from errors to status codes.
func TestStatusTable(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
	}{
		{errdefs.Errorf(errdefs.ErrNotFound, "x"), 404},
		{errdefs.Errorf(errdefs.ErrInvalidArgument, "x"), 400},
		{errdefs.Errorf(errdefs.ErrConflict, "x"), 409},
		{errdefs.Errorf(errdefs.ErrExhausted, "x"), 422},
		{errdefs.Errorf(errdefs.ErrForbidden, "x"), 403},
		{errdefs.Errorf(errdefs.ErrUnavailable, "x"), 503},
		{errdefs.Errorf(errdefs.ErrCorrupt, "x"), 500},
		{stale("x"), 412},
		{errdefs.Errorf(errTooLarge, "x"), 413},
		{unauthenticated("x"), 401},
		{fmt.Errorf("reading: %w", backends.ErrClosed), 503},
		{context.DeadlineExceeded, 503},
		{errors.Join(errdefs.ErrNotFound, errdefs.ErrUnavailable), 503},
		{errors.New("a bug"), 500},
	} {
		assert.Equal(t, c.status, statusOf(c.err), "%v", c.err)
	}
	assert.ErrorIs(t, stale("x"), errdefs.ErrConflict, "a stale update is a conflict to class-only code")
}

// TestSignatureAsSecuritySignsIt checks the verification against the
// signing of metal-stack/security (what metal-go and metalctl use),
// including an X-Date that is not in UTC.
func TestSignatureAsSecuritySignsIt(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	a := newAuthenticator(Keys{Admin: "ak", View: "vk"}, "tenant", 30*time.Second, func() time.Time { return now })
	sign := func(authType, key, method string, at time.Time) *http.Request {
		r := httptest.NewRequest(method, "/v1/partition", nil)
		auth := security.NewHMACAuth(authType, []byte(key))
		for k, v := range auth.AuthHeaders(method, at) {
			r.Header.Set(k, v)
		}
		return r
	}
	u, err := a.authenticate(sign(AuthTypeAdmin, "ak", http.MethodPut, now.Add(-10*time.Second)))
	require.NoError(t, err)
	assert.Equal(t, RoleAdmin, u.Role)
	assert.Equal(t, "tenant", u.Tenant)

	// security parses the date and signs its UTC form, so +02:00 works.
	r := sign(AuthTypeView, "vk", http.MethodGet, now)
	r.Header.Set(headerDate, now.In(time.FixedZone("CEST", 2*3600)).Format(time.RFC3339))
	u, err = a.authenticate(r)
	require.NoError(t, err)
	assert.Equal(t, RoleView, u.Role)

	// security's own check accepts what we accept.
	hma := security.NewHMACAuth(AuthTypeAdmin, []byte("ak"), security.WithLifetime(0))
	_, err = hma.User(sign(AuthTypeAdmin, "ak", http.MethodPost, now))
	require.NoError(t, err)

	for name, r := range map[string]*http.Request{
		"old":         sign(AuthTypeAdmin, "ak", http.MethodGet, now.Add(-31*time.Second)),
		"future":      sign(AuthTypeAdmin, "ak", http.MethodGet, now.Add(31*time.Second)),
		"wrong key":   sign(AuthTypeAdmin, "vk", http.MethodGet, now),
		"edit is off": sign(AuthTypeEdit, "ek", http.MethodGet, now),
		"other method": func() *http.Request {
			r := sign(AuthTypeAdmin, "ak", http.MethodGet, now)
			r.Method = http.MethodDelete
			return r
		}(),
		"other salt": func() *http.Request {
			r := sign(AuthTypeAdmin, "ak", http.MethodGet, now)
			r.Header.Set(headerSalt, "x")
			return r
		}(),
		"three words": func() *http.Request {
			r := sign(AuthTypeAdmin, "ak", http.MethodGet, now)
			r.Header.Set(headerAuthorization, "Metal-Admin a b")
			return r
		}(),
		"no date": func() *http.Request {
			r := sign(AuthTypeAdmin, "ak", http.MethodGet, now)
			r.Header.Del(headerDate)
			return r
		}(),
		"not hex": func() *http.Request {
			r := sign(AuthTypeAdmin, "ak", http.MethodGet, now)
			r.Header.Set(headerAuthorization, "Metal-Admin zz")
			return r
		}(),
		"no header": httptest.NewRequest(http.MethodGet, "/", nil),
		"bearer header": func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set(headerAuthorization, "Bearer x")
			return r
		}(),
	} {
		_, err := a.authenticate(r)
		assert.ErrorIs(t, err, errUnauthenticated, name)
		assert.Equal(t, http.StatusUnauthorized, statusOf(err), name)
	}
}

func TestIsDNSName(t *testing.T) {
	for s, want := range map[string]bool{
		"pool.ntp.org": true, "ntp1": true, "a-b.example.": true,
		"": false, "-a.example": false, "a..b": false, "a_b.example": false, "ä.example": false,
	} {
		assert.Equal(t, want, isDNSName(s), s)
	}
}
