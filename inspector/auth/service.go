package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Store persists users, sessions, tokens and the audit log. inspector/bolt
// implements it; authtest.MemStore is an in-memory one for tests, and
// authtest.RunStoreSuite checks both behave alike.
type Store interface {
	// CreateUser adds u; ErrUserExists when the name is taken.
	CreateUser(ctx context.Context, u User) error
	// User returns the named user; ErrNoUser if absent.
	User(ctx context.Context, name string) (*User, error)
	// Users lists all users by name.
	Users(ctx context.Context) ([]User, error)
	// UpdateUser applies fn to the stored user and saves it atomically;
	// ErrNoUser if absent, fn's error aborts the change.
	UpdateUser(ctx context.Context, name string, fn func(*User) error) error

	// CreateSession stores s under s.ID.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with id and its user, read together;
	// ErrNoSession if the session is absent, ErrNoUser if its user is.
	Session(ctx context.Context, id string) (*Session, *User, error)
	// DeleteSession removes one session; a missing one is no error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessions removes every session of user, or, with user empty,
	// every session that expired before now. It returns how many went.
	DeleteSessions(ctx context.Context, user string, now time.Time) (int, error)

	// CreateToken stores t under t.Hash.
	CreateToken(ctx context.Context, t Token) error
	// Token returns the token whose secret hashes to hash; ErrNoToken if absent.
	Token(ctx context.Context, hash string) (*Token, error)
	// Tokens lists all tokens, revoked ones included, oldest first.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks the token with id revoked; ErrNoToken if absent.
	RevokeToken(ctx context.Context, id string) (*Token, error)

	// AppendAudit appends e and sets e.ID; nil means it is on disk.
	AppendAudit(ctx context.Context, e *Event) error
	// Audit returns events newest first.
	Audit(ctx context.Context, q AuditQuery) ([]Event, error)
}

// Service applies the access rules over a Store. The web UI and the
// `pruefplatz users` command share it, so a rule (who may log in, what an
// audit entry holds) exists once.
type Service struct {
	Store  Store
	Hasher Hasher
	// SessionTTL is how long a login lasts (default 12 h: one shift and
	// some). It is absolute, not extended by use, so a stolen cookie dies.
	SessionTTL time.Duration
	// UserLimiter and AddrLimiter throttle failed logins (defaults: 5 per
	// user and 20 per address in 15 minutes).
	UserLimiter, AddrLimiter *Limiter
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the randomness for secrets (default crypto/rand).
	Rand io.Reader
	// Log receives audit-write failures (default slog.Default()).
	Log *slog.Logger

	dummyOnce sync.Once
	dummyHash []byte
}

// Defaults for Service fields left zero.
const (
	DefaultSessionTTL = 12 * time.Hour
	loginWindow       = 15 * time.Minute
)

// NewService returns a Service over store with bcrypt at cost (0: bcrypt's
// default) and the default limits.
func NewService(store Store, cost int, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{
		Store: store, Hasher: Bcrypt{Cost: cost}, SessionTTL: DefaultSessionTTL,
		UserLimiter: NewLimiter(5, loginWindow, now), AddrLimiter: NewLimiter(20, loginWindow, now),
		Now: now, Rand: cryptoRand, Log: slog.Default(),
	}
}

// dummy is compared against when the user does not exist, so a login for
// an unknown name takes as long as one with a wrong password.
func (s *Service) dummy() []byte {
	s.dummyOnce.Do(func() { s.dummyHash, _ = s.Hasher.Hash("not a password, only for timing") })
	return s.dummyHash
}

// Login checks name and password from addr and opens a session. It returns
// the cookie secret (never stored) and the session. Errors: a
// *RateLimitError (ErrRateLimited) after too many failures for the user or
// the address, ErrBadCredentials for an unknown user, a wrong password or a
// disabled account. Every attempt is audited.
func (s *Service) Login(ctx context.Context, name, password, addr string) (string, *Session, error) {
	name = strings.TrimSpace(name)
	ukey, akey := "user:"+strings.ToLower(name), "addr:"+addr
	if w := max(s.UserLimiter.Wait(ukey), s.AddrLimiter.Wait(akey)); w > 0 {
		s.audit(ctx, Actor{Name: name, Addr: addr}, ActionLogin, "", "rate limited", false)
		return "", nil, &RateLimitError{RetryAfter: w}
	}
	u, err := s.Store.User(ctx, name)
	switch {
	case errors.Is(err, ErrNoUser):
		s.Hasher.Compare(s.dummy(), password)
		err = ErrBadCredentials
	case err != nil:
		return "", nil, err
	default:
		err = s.Hasher.Compare(u.PasswordHash, password)
		if err == nil && u.Disabled {
			err = ErrBadCredentials
		}
	}
	if err != nil {
		if !errors.Is(err, ErrBadCredentials) {
			return "", nil, err
		}
		s.UserLimiter.Fail(ukey)
		s.AddrLimiter.Fail(akey)
		s.audit(ctx, Actor{Name: name, Addr: addr}, ActionLogin, "", "wrong user name or password", false)
		return "", nil, ErrBadCredentials
	}
	s.UserLimiter.Reset(ukey)
	secret, err := newSecret(s.Rand)
	if err != nil {
		return "", nil, err
	}
	csrf, err := newSecret(s.Rand)
	if err != nil {
		return "", nil, err
	}
	now := s.Now().UTC()
	sess := Session{ID: HashSecret(secret), User: u.Name, Addr: addr, Created: now, Expires: now.Add(s.SessionTTL), CSRF: csrf}
	// Expired sessions are swept at login: logins are rare and this keeps
	// the bucket to the sessions that can still be used.
	if _, err := s.Store.DeleteSessions(ctx, "", now); err != nil {
		s.Log.Warn("sweeping expired sessions", "err", err)
	}
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	s.audit(ctx, Actor{Name: u.Name, Via: ViaSession, Addr: addr}, ActionLogin, "", "", true)
	return secret, &sess, nil
}

// Authenticate returns the principal behind a session cookie's secret;
// ErrUnauthenticated when it is unknown, expired, or its user is gone or
// disabled.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" {
		return nil, ErrUnauthenticated
	}
	sess, u, err := s.Store.Session(ctx, HashSecret(secret))
	if errors.Is(err, ErrNoSession) || errors.Is(err, ErrNoUser) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !s.Now().Before(sess.Expires) || u.Disabled {
		return nil, ErrUnauthenticated
	}
	return &Principal{Name: u.Name, Roles: u.Roles, Via: ViaSession, SessionID: sess.ID, CSRF: sess.CSRF}, nil
}

// AuthenticateToken returns the principal behind a bearer token;
// ErrUnauthenticated when it is unknown or revoked.
func (s *Service) AuthenticateToken(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" {
		return nil, ErrUnauthenticated
	}
	t, err := s.Store.Token(ctx, HashSecret(secret))
	if errors.Is(err, ErrNoToken) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if t.Revoked {
		return nil, ErrUnauthenticated
	}
	return &Principal{Name: "token:" + t.Name, Roles: t.Roles, Via: ViaToken}, nil
}

// Logout ends p's session (a no-op for other principals) and audits it.
func (s *Service) Logout(ctx context.Context, p *Principal, addr string) error {
	if p == nil || p.Via != ViaSession {
		return nil
	}
	err := s.Store.DeleteSession(ctx, p.SessionID)
	s.audit(ctx, ActorOf(p, addr), ActionLogout, "", "", err == nil)
	return err
}

// AddUser creates a user. Errors: ErrInvalid for a bad name, password or
// role list, ErrUserExists when the name is taken.
func (s *Service) AddUser(ctx context.Context, by Actor, name, password string, roles []Role) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: user name %q (1–64 letters, digits, . - _ @)", ErrInvalid, name)
	}
	if len(roles) == 0 {
		return fmt.Errorf("%w: a user needs at least one role", ErrInvalid)
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := s.Hasher.Hash(password)
	if err != nil {
		return err
	}
	now := s.Now().UTC()
	err = s.Store.CreateUser(ctx, User{Name: name, Roles: roles, PasswordHash: h, Created: now, Updated: now})
	s.audit(ctx, by, ActionUserAdd, name, "roles "+JoinRoles(roles), err == nil)
	return err
}

// SetPassword replaces a user's password and ends their sessions. Errors:
// ErrInvalid, ErrNoUser.
func (s *Service) SetPassword(ctx context.Context, by Actor, name, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := s.Hasher.Hash(password)
	if err != nil {
		return err
	}
	err = s.Store.UpdateUser(ctx, name, func(u *User) error {
		u.PasswordHash, u.Updated = h, s.Now().UTC()
		return nil
	})
	if err == nil {
		_, err = s.Store.DeleteSessions(ctx, name, time.Time{})
	}
	s.audit(ctx, by, ActionUserPassword, name, "", err == nil)
	return err
}

// SetRoles replaces a user's roles; their sessions see the change at the
// next request. Errors: ErrInvalid, ErrNoUser.
func (s *Service) SetRoles(ctx context.Context, by Actor, name string, roles []Role) error {
	if len(roles) == 0 {
		return fmt.Errorf("%w: a user needs at least one role", ErrInvalid)
	}
	err := s.Store.UpdateUser(ctx, name, func(u *User) error {
		u.Roles, u.Updated = roles, s.Now().UTC()
		return nil
	})
	s.audit(ctx, by, ActionUserRoles, name, "roles "+JoinRoles(roles), err == nil)
	return err
}

// SetDisabled disables (and logs out) or re-enables a user. Errors: ErrNoUser.
func (s *Service) SetDisabled(ctx context.Context, by Actor, name string, disabled bool) error {
	err := s.Store.UpdateUser(ctx, name, func(u *User) error {
		u.Disabled, u.Updated = disabled, s.Now().UTC()
		return nil
	})
	if err == nil && disabled {
		_, err = s.Store.DeleteSessions(ctx, name, time.Time{})
	}
	action := ActionUserEnable
	if disabled {
		action = ActionUserDisable
	}
	s.audit(ctx, by, action, name, "", err == nil)
	return err
}

// TokenPrefix starts every API token, so a leaked one is easy to grep for.
const TokenPrefix = "ppt_"

// CreateToken makes a bearer token named name with roles and returns its
// secret, which is shown once and never stored. Errors: ErrInvalid.
func (s *Service) CreateToken(ctx context.Context, by Actor, name string, roles []Role) (string, *Token, error) {
	if !ValidName(name) {
		return "", nil, fmt.Errorf("%w: token name %q (1–64 letters, digits, . - _ @)", ErrInvalid, name)
	}
	if len(roles) == 0 {
		return "", nil, fmt.Errorf("%w: a token needs at least one role", ErrInvalid)
	}
	raw, err := newSecret(s.Rand)
	if err != nil {
		return "", nil, err
	}
	secret := TokenPrefix + raw
	h := HashSecret(secret)
	t := Token{ID: h[:12], Hash: h, Name: name, Roles: roles, Created: s.Now().UTC(), CreatedBy: by.Name}
	err = s.Store.CreateToken(ctx, t)
	s.audit(ctx, by, ActionTokenCreate, name, "id "+t.ID+", roles "+JoinRoles(roles), err == nil)
	if err != nil {
		return "", nil, err
	}
	return secret, &t, nil
}

// RevokeToken revokes the token with id. Errors: ErrNoToken.
func (s *Service) RevokeToken(ctx context.Context, by Actor, id string) error {
	t, err := s.Store.RevokeToken(ctx, id)
	target := id
	if t != nil {
		target = t.Name
	}
	s.audit(ctx, by, ActionTokenRevoke, target, "id "+id, err == nil)
	return err
}

// Bootstrap creates the first administrator when there are no users yet
// and returns the generated password, to be shown once; it returns "" when
// users exist. The account "admin" holds admin and engineer, so it can both
// add the other users and run the station's models.
func (s *Service) Bootstrap(ctx context.Context) (user, password string, err error) {
	us, err := s.Store.Users(ctx)
	if err != nil || len(us) > 0 {
		return "", "", err
	}
	raw, err := newSecret(s.Rand)
	if err != nil {
		return "", "", err
	}
	password = raw[:20] // 120 bits, still typeable
	err = s.AddUser(ctx, Actor{Name: "pruefplatz", Via: ViaSystem}, "admin", password, []Role{RoleEngineer, RoleAdmin})
	if err != nil {
		return "", "", err
	}
	return "admin", password, nil
}

// Record appends an audit event for an action done elsewhere (a model
// activation in the UI); its time is set when zero. A failure to write is
// returned and also logged.
func (s *Service) Record(ctx context.Context, by Actor, action Action, target, detail string, ok bool) error {
	return s.audit(ctx, by, action, target, detail, ok)
}

func (s *Service) audit(ctx context.Context, by Actor, action Action, target, detail string, ok bool) error {
	e := &Event{Time: s.Now().UTC(), Actor: by.Name, Via: by.Via, Addr: by.Addr, Action: action,
		Target: target, Detail: detail, OK: ok}
	// The audit entry is written even when the request was cancelled: the
	// attempt happened either way.
	err := s.Store.AppendAudit(context.WithoutCancel(ctx), e)
	if err != nil {
		s.Log.Error("audit log write failed", "action", action, "actor", by.Name, "err", err)
	}
	return err
}
