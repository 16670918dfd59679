package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/auth/authtest"
)

func TestMemStoreSuite(t *testing.T) {
	authtest.RunStoreSuite(t, func(*testing.T) auth.Store { return &authtest.MemStore{} })
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time         { return c.t }
func (c *clock) add(d time.Duration)    { c.t = c.t.Add(d) }
func newClock() *clock                  { return &clock{t: time.Date(2025, 3, 1, 6, 0, 0, 0, time.UTC)} }
func cli() auth.Actor                   { return auth.Actor{Name: "root", Via: auth.ViaCLI} }
func roles(rs ...auth.Role) []auth.Role { return rs }

func newService(t *testing.T) (*auth.Service, *authtest.MemStore, *clock) {
	t.Helper()
	st := &authtest.MemStore{}
	c := newClock()
	s := auth.NewService(st, bcrypt.MinCost, c.now)
	if err := s.AddUser(context.Background(), cli(), "anna", "correct horse", roles(auth.RoleOperator)); err != nil {
		t.Fatal(err)
	}
	return s, st, c
}

func actions(t *testing.T, st auth.Store) []string {
	t.Helper()
	evs, err := st.Audit(context.Background(), auth.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		s := string(e.Action) + " " + e.Actor
		if !e.OK {
			s += " FAILED"
		}
		out = append(out, s)
	}
	return out
}

func TestLoginSessionLogout(t *testing.T) {
	ctx := context.Background()
	s, st, c := newService(t)
	secret, sess, err := s.Login(ctx, "anna", "correct horse", "10.0.0.7")
	if err != nil {
		t.Fatal(err)
	}
	if sess.ID == secret || sess.ID != auth.HashSecret(secret) || sess.CSRF == "" || sess.CSRF == secret {
		t.Errorf("session %+v stores the cookie secret or lacks a CSRF token", sess)
	}
	if !sess.Expires.Equal(c.now().Add(auth.DefaultSessionTTL)) || sess.Addr != "10.0.0.7" {
		t.Errorf("session %+v", sess)
	}
	p, err := s.Authenticate(ctx, secret)
	if err != nil || p.Name != "anna" || !p.HasRole(auth.RoleOperator) || p.HasRole(auth.RoleEngineer) || p.Via != auth.ViaSession || p.CSRF != sess.CSRF {
		t.Fatalf("principal %+v, %v", p, err)
	}
	if _, err := s.Authenticate(ctx, sess.ID); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("the stored id works as a cookie: %v", err)
	}
	// Role changes apply to a running session.
	if err := s.SetRoles(ctx, cli(), "anna", roles(auth.RoleOperator, auth.RoleEngineer)); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Authenticate(ctx, secret); !p.HasRole(auth.RoleEngineer) {
		t.Errorf("role change not seen: %+v", p)
	}
	if err := s.Logout(ctx, p, "10.0.0.7"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("after logout: %v", err)
	}
	want := []string{"user.add root", "login anna", "user.roles root", "logout anna"}
	if got := actions(t, st); !slices.Equal(got, want) {
		t.Errorf("audit %q, want %q", got, want)
	}
}

func TestSessionEndsAtExpiryPasswordChangeAndDisable(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		after func(s *auth.Service, c *clock)
	}{
		{"expired", func(_ *auth.Service, c *clock) { c.add(auth.DefaultSessionTTL) }},
		{"password changed", func(s *auth.Service, _ *clock) {
			if err := s.SetPassword(ctx, cli(), "anna", "battery staple"); err != nil {
				panic(err)
			}
		}},
		{"disabled", func(s *auth.Service, _ *clock) {
			if err := s.SetDisabled(ctx, cli(), "anna", true); err != nil {
				panic(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, c := newService(t)
			secret, _, err := s.Login(ctx, "anna", "correct horse", "a")
			if err != nil {
				t.Fatal(err)
			}
			c.add(auth.DefaultSessionTTL - time.Second)
			if _, err := s.Authenticate(ctx, secret); err != nil {
				t.Fatalf("before: %v", err)
			}
			c.add(-auth.DefaultSessionTTL + time.Second)
			tt.after(s, c)
			if _, err := s.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("session still valid: %v", err)
			}
		})
	}
}

func TestLoginFailuresAreUniformAndRateLimited(t *testing.T) {
	ctx := context.Background()
	s, st, c := newService(t)
	s.AddUser(ctx, cli(), "otto", "otto's secret!", roles(auth.RoleSales))
	s.SetDisabled(ctx, cli(), "otto", true)
	for _, tt := range []struct{ name, user, pw string }{
		{"wrong password", "anna", "wrong password"},
		{"unknown user", "nobody", "correct horse"},
		{"disabled user, right password", "otto", "otto's secret!"},
	} {
		if _, _, err := s.Login(ctx, tt.user, tt.pw, "10.0.0.9"); err != auth.ErrBadCredentials {
			t.Errorf("%s: %v, want exactly ErrBadCredentials", tt.name, err)
		}
	}
	// Per user: anna had one failure; four more lock her out for 15 minutes,
	// even with the right password, even from another address.
	for range 4 {
		s.Login(ctx, "anna", "nope nope nope", "10.0.0.10")
	}
	_, _, err := s.Login(ctx, "anna", "correct horse", "10.0.0.11")
	var rl *auth.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, auth.ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > 15*time.Minute {
		t.Fatalf("sixth attempt: %v", err)
	}
	c.add(rl.RetryAfter)
	if _, _, err := s.Login(ctx, "anna", "correct horse", "10.0.0.11"); err != nil {
		t.Errorf("after waiting: %v", err)
	}
	// Per address: 20 failures from one address block every user there.
	for i := range 20 {
		s.Login(ctx, "user"+string(rune('a'+i)), "nope nope nope", "10.6.6.6")
	}
	if _, _, err := s.Login(ctx, "anna", "correct horse", "10.6.6.6"); !errors.Is(err, auth.ErrRateLimited) {
		t.Errorf("address not limited: %v", err)
	}
	if _, _, err := s.Login(ctx, "anna", "correct horse", "10.0.0.12"); err != nil {
		t.Errorf("another address is blocked too: %v", err)
	}
	got := actions(t, st)
	if n := strings.Count(strings.Join(got, "\n"), "FAILED"); n != 3+4+1+20+1 {
		t.Errorf("%d failed logins audited, want 29", n)
	}
}

func TestUserValidation(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	tests := []struct {
		name, user, pw string
		roles          []auth.Role
		want           error
	}{
		{"ok", "ben.k", "long enough pw", roles(auth.RoleSales), nil},
		{"taken", "anna", "long enough pw", roles(auth.RoleSales), auth.ErrUserExists},
		{"short password", "carl", "short", roles(auth.RoleSales), auth.ErrInvalid},
		{"password over 72 bytes", "carl", strings.Repeat("x", 73), roles(auth.RoleSales), auth.ErrInvalid},
		{"no roles", "carl", "long enough pw", nil, auth.ErrInvalid},
		{"bad name", "carl smith", "long enough pw", roles(auth.RoleSales), auth.ErrInvalid},
		{"empty name", "", "long enough pw", roles(auth.RoleSales), auth.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.AddUser(ctx, cli(), tt.user, tt.pw, tt.roles)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("AddUser: %v, want %v", err, tt.want)
			}
		})
	}
	if err := s.SetPassword(ctx, cli(), "nobody", "long enough pw"); !errors.Is(err, auth.ErrNoUser) {
		t.Errorf("passwd of unknown user: %v", err)
	}
}

func TestParseRoles(t *testing.T) {
	got, err := auth.ParseRoles(" admin, operator,admin ")
	if err != nil || !slices.Equal(got, roles(auth.RoleOperator, auth.RoleAdmin)) {
		t.Errorf("ParseRoles: %v %v", got, err)
	}
	for _, bad := range []string{"", " , ", "operator,root"} {
		if _, err := auth.ParseRoles(bad); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("ParseRoles(%q): %v", bad, err)
		}
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	s, st, _ := newService(t)
	secret, tok, err := s.CreateToken(ctx, cli(), "line3-plc", roles(auth.RoleSales))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) || tok.Hash != auth.HashSecret(secret) || strings.Contains(tok.Hash, secret) {
		t.Errorf("token %+v for secret %q", tok, secret)
	}
	p, err := s.AuthenticateToken(ctx, secret)
	if err != nil || !p.HasRole(auth.RoleSales) || p.Via != auth.ViaToken || p.Name != "token:line3-plc" {
		t.Fatalf("principal %+v %v", p, err)
	}
	if _, err := s.AuthenticateToken(ctx, secret+"x"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a wrong token: %v", err)
	}
	if err := s.RevokeToken(ctx, cli(), tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a revoked token: %v", err)
	}
	if got := actions(t, st); !slices.Equal(got[1:], []string{"token.create root", "token.revoke root"}) {
		t.Errorf("audit %q", got)
	}
}

func TestBootstrapOnlyOnce(t *testing.T) {
	ctx := context.Background()
	st := &authtest.MemStore{}
	s := auth.NewService(st, bcrypt.MinCost, nil)
	user, pw, err := s.Bootstrap(ctx)
	if err != nil || user != "admin" || len(pw) < auth.MinPasswordLen {
		t.Fatalf("bootstrap: %q %q %v", user, pw, err)
	}
	secret, _, err := s.Login(ctx, "admin", pw, "127.0.0.1")
	if err != nil {
		t.Fatalf("login with the printed password: %v", err)
	}
	p, _ := s.Authenticate(ctx, secret)
	if !p.HasRole(auth.RoleAdmin) || !p.HasRole(auth.RoleEngineer) {
		t.Errorf("first admin roles %v", p.Roles)
	}
	s2 := auth.NewService(st, bcrypt.MinCost, nil)
	if user, pw2, err := s2.Bootstrap(ctx); err != nil || user != "" || pw2 != "" {
		t.Errorf("second bootstrap: %q %q %v", user, pw2, err)
	}
	// Two stations never print the same password.
	_, other, _ := auth.NewService(&authtest.MemStore{}, bcrypt.MinCost, nil).Bootstrap(ctx)
	if other == pw {
		t.Error("bootstrap password repeats")
	}
}

func TestAccess(t *testing.T) {
	op := &auth.Principal{Name: "anna", Roles: roles(auth.RoleOperator)}
	eng := &auth.Principal{Name: "ben", Roles: roles(auth.RoleSales, auth.RoleEngineer)}
	tests := []struct {
		name string
		a    auth.Access
		p    *auth.Principal
		want bool
	}{
		{"public, nobody", auth.Public, nil, true},
		{"authenticated, nobody", auth.Authenticated, nil, false},
		{"authenticated, operator", auth.Authenticated, op, true},
		{"engineer route, nobody", auth.Require(auth.RoleEngineer), nil, false},
		{"engineer route, operator", auth.Require(auth.RoleEngineer), op, false},
		{"engineer route, engineer", auth.Require(auth.RoleEngineer), eng, true},
		{"operator or engineer, engineer", auth.Require(auth.RoleOperator, auth.RoleEngineer), eng, true},
		{"admin route, engineer", auth.Require(auth.RoleAdmin), eng, false},
		{"no roles declared", auth.Require(), eng, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Allows(tt.p); got != tt.want {
				t.Errorf("Allows = %v", got)
			}
		})
	}
}

func TestLimiterWindowSlides(t *testing.T) {
	c := newClock()
	l := auth.NewLimiter(2, time.Minute, c.now)
	l.Fail("k")
	c.add(30 * time.Second)
	l.Fail("k")
	if w := l.Wait("k"); w != 30*time.Second {
		t.Errorf("wait %v, want 30s (until the first failure leaves the window)", w)
	}
	c.add(30 * time.Second)
	if w := l.Wait("k"); w != 0 {
		t.Errorf("wait %v after the window", w)
	}
	l.Fail("k")
	l.Reset("k")
	if w := l.Wait("k"); w != 0 {
		t.Errorf("wait %v after reset", w)
	}
}
