package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/metalkit/metalkit/errdefs"
)

// Role is what a caller may do. Each role includes the ones below it.
type Role int

// The roles, weakest first.
const (
	// RoleView reads and finds.
	RoleView Role = iota + 1
	// RoleEdit also allocates and frees, and changes IPs and machines.
	RoleEdit
	// RoleAdmin may do everything, e.g. create partitions and images.
	RoleAdmin
)

// String returns "view", "edit" or "admin".
func (r Role) String() string {
	switch r {
	case RoleView:
		return "view"
	case RoleEdit:
		return "edit"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// The HMAC auth types of metal-api's built-in users. A client names one as
// the scheme of its Authorization header; it selects the key and so the
// role.
const (
	AuthTypeAdmin = "Metal-Admin"
	AuthTypeEdit  = "Metal-Edit"
	AuthTypeView  = "Metal-View"
)

// The headers of an HMAC-signed request (metal-stack/security's names).
const (
	headerAuthorization = "Authorization"
	headerDate          = "X-Date"
	headerSalt          = "X-Data-Salt"
)

// DefaultLifetime is how far an X-Date may lie from the server's clock, in
// either direction, when Options.Lifetime is 0. metal-api's default for
// its view and edit keys is the same.
const DefaultLifetime = 30 * time.Second

// Keys holds the HMAC key of each role. An empty key turns its auth type
// off: requests signed with it are refused.
type Keys struct {
	// Admin is the key of auth type Metal-Admin.
	Admin string
	// Edit is the key of auth type Metal-Edit.
	Edit string
	// View is the key of auth type Metal-View.
	View string
}

// User is an authenticated caller: one of metal-api's HMAC users.
type User struct {
	// Name is the auth type, e.g. "Metal-Admin".
	Name string
	// EMail is the user's address, e.g. "metal-admin@metal-stack.io".
	EMail string
	// Tenant is Options.ProviderTenant.
	Tenant string
	// Groups are metal-api's group names for the role.
	Groups []string
	// Role is what the user may do.
	Role Role
}

// hmacUser is a user and the key that signs its requests.
type hmacUser struct {
	key  []byte
	user User
}

// authenticator checks HMAC signatures as metal-stack/security does: the
// MAC is HMAC-SHA256 under the auth type's key of the X-Date value
// (parsed as RFC 3339 and formatted again in UTC, second precision), the
// request method and the X-Data-Salt value, written as lowercase hex after
// the auth type in the Authorization header. Unlike security, the MACs are
// compared in constant time and a date too far in the future is refused
// like one too old.
type authenticator struct {
	users    map[string]hmacUser
	types    []string
	lifetime time.Duration
	clock    func() time.Time
}

func newAuthenticator(keys Keys, tenant string, lifetime time.Duration, clock func() time.Time) *authenticator {
	a := &authenticator{users: map[string]hmacUser{}, lifetime: lifetime, clock: clock}
	add := func(authType, key, email string, role Role, groups ...string) {
		if key == "" {
			return
		}
		a.types = append(a.types, authType)
		a.users[authType] = hmacUser{key: []byte(key), user: User{
			Name: authType, EMail: email, Tenant: tenant, Groups: groups, Role: role,
		}}
	}
	add(AuthTypeAdmin, keys.Admin, "metal-admin@metal-stack.io", RoleAdmin, "k8s_kaas-admin", "maas-all-all-admin")
	add(AuthTypeEdit, keys.Edit, "metal-edit@metal-stack.io", RoleEdit, "k8s_kaas-edit", "maas-all-all-edit")
	add(AuthTypeView, keys.View, "metal-view@metal-stack.io", RoleView, "k8s_kaas-view", "maas-all-all-view")
	return a
}

// authenticate returns the user whose key signed r, or an error matching
// errUnauthenticated that says what is wrong.
func (a *authenticator) authenticate(r *http.Request) (*User, error) {
	authz := r.Header.Get(headerAuthorization)
	if authz == "" {
		return nil, unauthenticated("the request has no %s header; sign it with HMAC (%s: <%s> <hex HMAC-SHA256>)",
			headerAuthorization, headerAuthorization, strings.Join(a.types, "|"))
	}
	authType, mac, ok := strings.Cut(authz, " ")
	if !ok || strings.Contains(mac, " ") {
		return nil, unauthenticated(`the %s header is not "<auth type> <hex HMAC>"`, headerAuthorization)
	}
	authType, mac = strings.TrimSpace(authType), strings.TrimSpace(mac)
	u, ok := a.users[authType]
	if !ok {
		if strings.EqualFold(authType, "Bearer") {
			return nil, unauthenticated("bearer tokens are not accepted; sign the request with HMAC (auth type %s)", strings.Join(a.types, ", "))
		}
		return nil, unauthenticated("the %s header names the auth type %s; this server accepts %s",
			headerAuthorization, quote(authType), strings.Join(a.types, ", "))
	}
	date := r.Header.Get(headerDate)
	ts, err := time.Parse(time.RFC3339, date)
	if err != nil {
		return nil, unauthenticated("the %s header %s is not an RFC 3339 date", headerDate, quote(date))
	}
	if a.lifetime > 0 {
		now := a.clock()
		if now.Sub(ts) > a.lifetime {
			return nil, unauthenticated("the %s header %s is more than %s old", headerDate, quote(date), a.lifetime)
		}
		if ts.Sub(now) > a.lifetime {
			return nil, unauthenticated("the %s header %s is more than %s in the future", headerDate, quote(date), a.lifetime)
		}
	}
	got, err := hex.DecodeString(mac)
	if err != nil {
		return nil, unauthenticated("the HMAC in the %s header is not hex", headerAuthorization)
	}
	h := hmac.New(sha256.New, u.key)
	h.Write([]byte(ts.UTC().Format(time.RFC3339)))
	h.Write([]byte(r.Method))
	h.Write([]byte(r.Header.Get(headerSalt)))
	if !hmac.Equal(got, h.Sum(nil)) {
		return nil, unauthenticated("the HMAC in the %s header does not match the request (method, %s, %s) under the key of %s",
			headerAuthorization, headerDate, headerSalt, authType)
	}
	user := u.user
	user.Groups = append([]string(nil), u.user.Groups...)
	return &user, nil
}

func unauthenticated(format string, args ...any) error {
	return errdefs.Errorf(errUnauthenticated, format, args...)
}

type userKey struct{}

// withUser returns ctx carrying u.
func withUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the authenticated user of a request's context, or nil
// outside an authenticated route.
func UserFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}

// authorize wraps a route's handler: the caller must be authenticated and
// hold at least role. A missing or bad signature gets 401, a role too weak
// 403; neither reaches next.
func (s *Server) authorize(role Role, pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.auth.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if u.Role < role {
			s.fail(w, r, errdefs.Errorf(errdefs.ErrForbidden, "%s may not %s: it needs the %s role, %s has %s",
				u.Name, pattern, role, u.Name, u.Role))
			return
		}
		if sw, ok := w.(*statusWriter); ok {
			sw.user = u.Name
		}
		next.ServeHTTP(w, r.WithContext(withUser(r.Context(), u)))
	})
}
