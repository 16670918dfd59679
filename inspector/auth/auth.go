// Package auth is Prüfplatz's access domain: users and their roles,
// sessions for people, bearer tokens for machines, which role a route
// needs, and the audit log of security-relevant events. It holds the rules
// (Service) and the interfaces adapters implement (Store); inspector/bolt
// persists it and station-ui enforces it per request. It builds without cgo.
//
// Secrets never rest in the store in the clear: passwords are bcrypt
// hashes, and session cookies and API tokens are stored as their SHA-256
// (both are 256-bit random values, so a fast hash suffices; a slow one
// would cost every request).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// Role is a set of permissions a user or token holds.
type Role string

// The roles. A user can hold several; none implies another (an admin who
// should also activate models needs engineer too).
const (
	// RoleOperator sees the live page, triggers, confirms and overrides verdicts and resets the shift.
	RoleOperator Role = "operator"
	// RoleSales searches the catalogue with photos and sees the matches.
	RoleSales Role = "sales"
	// RoleEngineer manages models, exports and backs up verdicts, reads metrics.
	RoleEngineer Role = "engineer"
	// RoleAdmin manages users and tokens and reads the audit log.
	RoleAdmin Role = "admin"
)

// AllRoles lists every role in a stable order.
var AllRoles = []Role{RoleOperator, RoleSales, RoleEngineer, RoleAdmin}

// Errors. Adapters return ErrNoUser, ErrUserExists, ErrNoSession and
// ErrNoToken; the Service adds the rest.
var (
	// ErrUnauthenticated is returned when a request carries no valid session or token.
	ErrUnauthenticated = errors.New("not logged in")
	// ErrForbidden is returned when the caller lacks the role a route needs.
	ErrForbidden = errors.New("forbidden")
	// ErrBadCredentials is returned by Login for an unknown user, a wrong
	// password or a disabled account; which of them is not said.
	ErrBadCredentials = errors.New("wrong user name or password")
	// ErrRateLimited is returned by Login after too many failures for the
	// user or the address; RateLimitError says how long to wait.
	ErrRateLimited = errors.New("too many failed logins")
	// ErrNoUser is returned for an unknown user name.
	ErrNoUser = errors.New("no such user")
	// ErrUserExists is returned when adding a user whose name is taken.
	ErrUserExists = errors.New("user exists")
	// ErrNoSession is returned by a Store for an unknown session.
	ErrNoSession = errors.New("no such session")
	// ErrNoToken is returned by a Store for an unknown token.
	ErrNoToken = errors.New("no such token")
	// ErrInvalid is returned for a bad user name, role or password.
	ErrInvalid = errors.New("invalid")
)

// RateLimitError is an ErrRateLimited with the time until the next attempt.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v: try again in %s", ErrRateLimited, e.RetryAfter.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// ParseRoles reads a comma-separated role list ("operator,sales"),
// returning ErrInvalid for an unknown role or an empty list.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for _, p := range strings.Split(s, ",") {
		r := Role(strings.TrimSpace(p))
		if r == "" {
			continue
		}
		if !slices.Contains(AllRoles, r) {
			return nil, fmt.Errorf("%w: role %q (want %s)", ErrInvalid, r, JoinRoles(AllRoles))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no role given (want some of %s)", ErrInvalid, JoinRoles(AllRoles))
	}
	sortRoles(out)
	return out, nil
}

// JoinRoles writes roles comma-separated.
func JoinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func sortRoles(rs []Role) {
	sort.Slice(rs, func(a, b int) bool {
		return slices.Index(AllRoles, rs[a]) < slices.Index(AllRoles, rs[b])
	})
}

// ValidName reports whether a user or token name is acceptable: 1–64
// letters, digits, '.', '-', '_' or '@', so names are safe in logs, CSV and URLs.
func ValidName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-_@", c)
		if !ok {
			return false
		}
	}
	return true
}

// User is a person who logs in.
type User struct {
	Name         string    `json:"name"`
	Roles        []Role    `json:"roles"`
	PasswordHash []byte    `json:"password_hash"`
	Disabled     bool      `json:"disabled,omitempty"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// HasRole reports whether u holds r.
func (u *User) HasRole(r Role) bool { return slices.Contains(u.Roles, r) }

// Session is a person's login. The cookie holds a secret; the store keys
// the session by ID, the secret's SHA-256, so a copy of the store cannot
// be replayed as a cookie.
type Session struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Addr    string    `json:"addr"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// CSRF is the token pages send back in X-CSRF-Token with every
	// state-changing request; a cross-site page cannot read it.
	CSRF string `json:"csrf"`
}

// Token is a bearer token for a machine (a PLC, a script), with its own
// roles. Its secret is shown once at creation; the store keeps its SHA-256
// as Hash, and ID (a prefix of Hash) names it in lists and for revocation.
type Token struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"`
	Name      string    `json:"name"`
	Roles     []Role    `json:"roles"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// Via says how a caller proved who it is.
type Via string

// The ways a caller can be authenticated.
const (
	ViaSession Via = "session" // a logged-in person (cookie)
	ViaToken   Via = "token"   // a machine's bearer token
	ViaKiosk   Via = "kiosk"   // the station's own screen: loopback, no login
	ViaCLI     Via = "cli"     // a pruefplatz command on the station's machine
	ViaSystem  Via = "system"  // the station itself (first start)
)

// Principal is who makes a request: a user with a session, a token, or
// the kiosk.
type Principal struct {
	Name  string `json:"name"`
	Roles []Role `json:"roles"`
	Via   Via    `json:"via"`
	// SessionID is set for ViaSession (for logout and the audit log).
	SessionID string `json:"-"`
	// CSRF is the token state-changing browser requests must carry.
	CSRF string `json:"-"`
}

// HasRole reports whether p holds r.
func (p *Principal) HasRole(r Role) bool { return p != nil && slices.Contains(p.Roles, r) }

// Access is what a route requires. Declare one per route with Public,
// Authenticated or Require.
type Access struct {
	public bool
	anyone bool
	roles  []Role
}

// Public routes need no login (the login page, static files, health).
var Public = Access{public: true}

// Authenticated routes need a login of any role (logout, who am I).
var Authenticated = Access{anyone: true}

// Require declares a route open to holders of any of roles.
func Require(roles ...Role) Access { return Access{roles: roles} }

// IsPublic reports whether the route needs no login.
func (a Access) IsPublic() bool { return a.public }

// Allows reports whether p may use the route; p is nil without a login.
func (a Access) Allows(p *Principal) bool {
	switch {
	case a.public:
		return true
	case p == nil:
		return false
	case a.anyone:
		return true
	}
	for _, r := range a.roles {
		if p.HasRole(r) {
			return true
		}
	}
	return false
}

// Names lists the access for documents: ["public"], ["authenticated"] or the roles.
func (a Access) Names() []string {
	switch {
	case a.public:
		return []string{"public"}
	case a.anyone:
		return []string{"authenticated"}
	}
	s := make([]string, len(a.roles))
	for i, r := range a.roles {
		s[i] = string(r)
	}
	sort.Strings(s)
	return s
}

// Roles lists the roles that grant access (nil for public and authenticated).
func (a Access) Roles() []Role { return slices.Clone(a.roles) }

// newSecret returns 32 random bytes, base64url without padding.
func newSecret(r io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret is the SHA-256 (hex) under which a session or token secret is stored.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// cryptoRand is the default randomness; tests inject their own.
var cryptoRand io.Reader = rand.Reader
