package bolt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/auth/authtest"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
)

// openAuth opens an auth store in a temp dir and checks its consistency
// when the test ends.
func openAuth(t testing.TB) *bolt.AuthStore {
	t.Helper()
	s, err := bolt.OpenAuth(filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("auth store check: %v", err)
		}
	})
	return s
}

func TestAuthStoreSuite(t *testing.T) {
	authtest.RunStoreSuite(t, func(t *testing.T) auth.Store { return openAuth(t) })
}

// TestAuthStorePersistsAndShares checks that what one AuthStore writes a
// second one on the same file (another process: `pruefplatz users`) sees
// at once, and that the file is private to its owner.
func TestAuthStorePersistsAndShares(t *testing.T) {
	ctx := context.Background()
	a := openAuth(t)
	b, err := bolt.OpenAuth(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	svcA := auth.NewService(a, bcrypt.MinCost, nil)
	svcB := auth.NewService(b, bcrypt.MinCost, nil)
	if err := svcB.AddUser(ctx, auth.Actor{Name: "root", Via: auth.ViaCLI}, "anna", "correct horse", []auth.Role{auth.RoleOperator}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := svcA.Login(ctx, "anna", "correct horse", "10.0.0.1")
	if err != nil {
		t.Fatalf("login through the other handle: %v", err)
	}
	if err := svcB.SetDisabled(ctx, auth.Actor{Name: "root", Via: auth.ViaCLI}, "anna", true); err != nil {
		t.Fatal(err)
	}
	if _, err := svcA.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("disabled elsewhere, still logged in: %v", err)
	}
	evs, err := a.Audit(ctx, auth.AuditQuery{})
	if err != nil || len(evs) != 3 || evs[0].Action != auth.ActionUserDisable || evs[1].Action != auth.ActionLogin || evs[1].Addr != "10.0.0.1" {
		t.Errorf("audit %+v %v", evs, err)
	}
	fi, err := os.Stat(a.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("auth store mode %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestAuthStoreNotAFile refuses a file that is not a bbolt database
// without changing it.
func TestAuthStoreNotAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "auth.db")
	junk := []byte("these are not the users you are looking for")
	os.WriteFile(p, junk, 0o600)
	if _, err := bolt.OpenAuth(p); err == nil {
		t.Fatal("opened a junk file")
	}
	if b, _ := os.ReadFile(p); string(b) != string(junk) {
		t.Error("the junk file was changed")
	}
}

// BenchmarkAuthSession is what a logged-in request costs for its session
// check: open the file, read session and user, close.
func BenchmarkAuthSession(b *testing.B) {
	ctx := context.Background()
	s := openAuth(b)
	svc := auth.NewService(s, bcrypt.MinCost, time.Now)
	svc.AddUser(ctx, auth.Actor{Name: "root"}, "anna", "correct horse", []auth.Role{auth.RoleOperator})
	secret, _, err := svc.Login(ctx, "anna", "correct horse", "x")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}
