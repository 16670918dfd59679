// Package authtest holds an in-memory auth.Store for tests and the suite
// every auth.Store must pass (RunStoreSuite), so the bbolt store and the
// in-memory one cannot drift apart.
package authtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/auth"
)

// MemStore is an auth.Store in memory. The zero value is ready.
type MemStore struct {
	mu       sync.Mutex
	users    map[string]auth.User
	sessions map[string]auth.Session
	tokens   map[string]auth.Token
	audit    []auth.Event
}

var _ auth.Store = (*MemStore)(nil)

func (m *MemStore) init() {
	if m.users == nil {
		m.users, m.sessions, m.tokens = map[string]auth.User{}, map[string]auth.Session{}, map[string]auth.Token{}
	}
}

func cloneUser(u auth.User) *auth.User {
	u.Roles = slices.Clone(u.Roles)
	u.PasswordHash = slices.Clone(u.PasswordHash)
	return &u
}

// CreateUser implements auth.Store.
func (m *MemStore) CreateUser(_ context.Context, u auth.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, ok := m.users[u.Name]; ok {
		return fmt.Errorf("%w: %s", auth.ErrUserExists, u.Name)
	}
	m.users[u.Name] = *cloneUser(u)
	return nil
}

// User implements auth.Store.
func (m *MemStore) User(_ context.Context, name string) (*auth.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	u, ok := m.users[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", auth.ErrNoUser, name)
	}
	return cloneUser(u), nil
}

// Users implements auth.Store.
func (m *MemStore) Users(_ context.Context) ([]auth.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	var out []auth.User
	for _, u := range m.users {
		out = append(out, *cloneUser(u))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// UpdateUser implements auth.Store.
func (m *MemStore) UpdateUser(_ context.Context, name string, fn func(*auth.User) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	u, ok := m.users[name]
	if !ok {
		return fmt.Errorf("%w: %s", auth.ErrNoUser, name)
	}
	c := cloneUser(u)
	if err := fn(c); err != nil {
		return err
	}
	m.users[name] = *c
	return nil
}

// CreateSession implements auth.Store.
func (m *MemStore) CreateSession(_ context.Context, s auth.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.sessions[s.ID] = s
	return nil
}

// Session implements auth.Store.
func (m *MemStore) Session(_ context.Context, id string) (*auth.Session, *auth.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	s, ok := m.sessions[id]
	if !ok {
		return nil, nil, auth.ErrNoSession
	}
	u, ok := m.users[s.User]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s", auth.ErrNoUser, s.User)
	}
	return &s, cloneUser(u), nil
}

// DeleteSession implements auth.Store.
func (m *MemStore) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	delete(m.sessions, id)
	return nil
}

// DeleteSessions implements auth.Store.
func (m *MemStore) DeleteSessions(_ context.Context, user string, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	n := 0
	for id, s := range m.sessions {
		if (user != "" && s.User == user) || (user == "" && !now.Before(s.Expires)) {
			delete(m.sessions, id)
			n++
		}
	}
	return n, nil
}

// CreateToken implements auth.Store.
func (m *MemStore) CreateToken(_ context.Context, t auth.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	t.Roles = slices.Clone(t.Roles)
	m.tokens[t.Hash] = t
	return nil
}

// Token implements auth.Store.
func (m *MemStore) Token(_ context.Context, hash string) (*auth.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	t, ok := m.tokens[hash]
	if !ok {
		return nil, auth.ErrNoToken
	}
	return &t, nil
}

// Tokens implements auth.Store.
func (m *MemStore) Tokens(_ context.Context) ([]auth.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	var out []auth.Token
	for _, t := range m.tokens {
		out = append(out, t)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.Before(out[b].Created) })
	return out, nil
}

// RevokeToken implements auth.Store.
func (m *MemStore) RevokeToken(_ context.Context, id string) (*auth.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	for h, t := range m.tokens {
		if t.ID == id {
			t.Revoked = true
			m.tokens[h] = t
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", auth.ErrNoToken, id)
}

// AppendAudit implements auth.Store.
func (m *MemStore) AppendAudit(_ context.Context, e *auth.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = uint64(len(m.audit) + 1)
	m.audit = append(m.audit, *e)
	return nil
}

// Audit implements auth.Store.
func (m *MemStore) Audit(_ context.Context, q auth.AuditQuery) ([]auth.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []auth.Event
	for i := len(m.audit) - 1; i >= 0; i-- {
		e := m.audit[i]
		if q.Before != 0 && e.ID >= q.Before {
			continue
		}
		out = append(out, e)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// RunStoreSuite checks the behaviour every auth.Store must have; newStore
// returns an empty store (and registers its own cleanup and checks).
func RunStoreSuite(t *testing.T, newStore func(t *testing.T) auth.Store) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 6, 0, 0, 0, time.UTC)

	t.Run("users", func(t *testing.T) {
		s := newStore(t)
		u := auth.User{Name: "anna", Roles: []auth.Role{auth.RoleOperator}, PasswordHash: []byte("h1"), Created: t0, Updated: t0}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, u); !errors.Is(err, auth.ErrUserExists) {
			t.Errorf("second create: %v, want ErrUserExists", err)
		}
		if _, err := s.User(ctx, "bob"); !errors.Is(err, auth.ErrNoUser) {
			t.Errorf("unknown user: %v", err)
		}
		if err := s.UpdateUser(ctx, "bob", func(*auth.User) error { return nil }); !errors.Is(err, auth.ErrNoUser) {
			t.Errorf("update unknown user: %v", err)
		}
		boom := errors.New("boom")
		if err := s.UpdateUser(ctx, "anna", func(u *auth.User) error { u.Disabled = true; return boom }); !errors.Is(err, boom) {
			t.Errorf("failed update: %v", err)
		}
		if got, _ := s.User(ctx, "anna"); got == nil || got.Disabled {
			t.Errorf("a failed update changed the user: %+v", got)
		}
		if err := s.UpdateUser(ctx, "anna", func(u *auth.User) error {
			u.Roles = append(u.Roles, auth.RoleSales)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.CreateUser(ctx, auth.User{Name: "ben", Roles: []auth.Role{auth.RoleEngineer}, PasswordHash: []byte("h2")})
		us, err := s.Users(ctx)
		if err != nil || len(us) != 2 || us[0].Name != "anna" || us[1].Name != "ben" {
			t.Fatalf("users %+v, %v", us, err)
		}
		if !slices.Equal(us[0].Roles, []auth.Role{auth.RoleOperator, auth.RoleSales}) || string(us[0].PasswordHash) != "h1" || !us[0].Created.Equal(t0) {
			t.Errorf("stored user %+v", us[0])
		}
	})

	t.Run("sessions", func(t *testing.T) {
		s := newStore(t)
		s.CreateUser(ctx, auth.User{Name: "anna", Roles: []auth.Role{auth.RoleOperator}})
		s.CreateUser(ctx, auth.User{Name: "ben", Roles: []auth.Role{auth.RoleEngineer}})
		for i, ss := range []auth.Session{
			{ID: "s1", User: "anna", Expires: t0.Add(time.Hour), CSRF: "c1"},
			{ID: "s2", User: "anna", Expires: t0.Add(-time.Hour)},
			{ID: "s3", User: "ben", Expires: t0.Add(-time.Minute)},
			{ID: "s4", User: "ben", Expires: t0.Add(time.Hour)},
			{ID: "s5", User: "gone", Expires: t0.Add(time.Hour)},
		} {
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
		}
		sess, u, err := s.Session(ctx, "s1")
		if err != nil || sess.User != "anna" || sess.CSRF != "c1" || u.Name != "anna" || !u.HasRole(auth.RoleOperator) {
			t.Errorf("session s1: %+v %+v %v", sess, u, err)
		}
		if _, _, err := s.Session(ctx, "nope"); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("unknown session: %v", err)
		}
		if _, _, err := s.Session(ctx, "s5"); !errors.Is(err, auth.ErrNoUser) {
			t.Errorf("session of a missing user: %v", err)
		}
		if n, err := s.DeleteSessions(ctx, "", t0); err != nil || n != 2 {
			t.Errorf("expired sessions deleted: %d, %v; want 2", n, err)
		}
		if n, err := s.DeleteSessions(ctx, "anna", time.Time{}); err != nil || n != 1 {
			t.Errorf("anna's sessions deleted: %d, %v; want 1", n, err)
		}
		if err := s.DeleteSession(ctx, "s4"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSession(ctx, "s4"); err != nil {
			t.Errorf("deleting a deleted session: %v", err)
		}
		for _, id := range []string{"s1", "s2", "s3", "s4"} {
			if _, _, err := s.Session(ctx, id); !errors.Is(err, auth.ErrNoSession) {
				t.Errorf("session %s still there: %v", id, err)
			}
		}
	})

	t.Run("tokens", func(t *testing.T) {
		s := newStore(t)
		a := auth.Token{ID: "aaaa", Hash: "aaaa1111", Name: "plc", Roles: []auth.Role{auth.RoleSales}, Created: t0}
		b := auth.Token{ID: "bbbb", Hash: "bbbb2222", Name: "script", Roles: []auth.Role{auth.RoleEngineer}, Created: t0.Add(time.Second)}
		for _, tk := range []auth.Token{b, a} {
			if err := s.CreateToken(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Token(ctx, "aaaa1111")
		if err != nil || got.Name != "plc" || !slices.Equal(got.Roles, a.Roles) {
			t.Errorf("token: %+v %v", got, err)
		}
		if _, err := s.Token(ctx, "zzzz"); !errors.Is(err, auth.ErrNoToken) {
			t.Errorf("unknown token: %v", err)
		}
		if rt, err := s.RevokeToken(ctx, "bbbb"); err != nil || rt.Name != "script" || !rt.Revoked {
			t.Errorf("revoke: %+v %v", rt, err)
		}
		if _, err := s.RevokeToken(ctx, "cccc"); !errors.Is(err, auth.ErrNoToken) {
			t.Errorf("revoke unknown: %v", err)
		}
		ts, err := s.Tokens(ctx)
		if err != nil || len(ts) != 2 || ts[0].Name != "plc" || ts[0].Revoked || !ts[1].Revoked {
			t.Errorf("tokens %+v %v", ts, err)
		}
	})

	t.Run("audit", func(t *testing.T) {
		s := newStore(t)
		for i := range 5 {
			e := &auth.Event{Time: t0.Add(time.Duration(i) * time.Second), Actor: "anna", Action: auth.ActionLogin, OK: i%2 == 0}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.ID != uint64(i+1) {
				t.Errorf("event %d got id %d", i, e.ID)
			}
		}
		all, err := s.Audit(ctx, auth.AuditQuery{})
		if err != nil || len(all) != 5 || all[0].ID != 5 || all[4].ID != 1 || !all[4].Time.Equal(t0) || !all[0].OK || all[1].OK {
			t.Fatalf("audit %+v %v", all, err)
		}
		page, _ := s.Audit(ctx, auth.AuditQuery{Before: 4, Limit: 2})
		if len(page) != 2 || page[0].ID != 3 || page[1].ID != 2 {
			t.Errorf("page %+v", page)
		}
	})
}
