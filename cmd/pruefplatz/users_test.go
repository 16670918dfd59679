package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
)

// runUsers runs `pruefplatz users ARGS…` on the auth store at path with
// stdin as standard input and returns its output.
func runUsers(t *testing.T, path, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	root.SetArgs(append(append([]string{"users"}, args...), "--auth-store", path, "--bcrypt-cost", "4"))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestUsersCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	ctx := context.Background()
	steps := []struct {
		name    string
		stdin   string
		args    []string
		wantOut string
		wantErr error
	}{
		{"add", "anna's password\n", []string{"add", "anna", "--roles", "operator,sales"}, "added anna (operator,sales)", nil},
		{"add twice", "anna's password\n", []string{"add", "anna", "--roles", "operator"}, "", auth.ErrUserExists},
		{"bad role", "x\n", []string{"add", "ben", "--roles", "boss"}, "", auth.ErrInvalid},
		{"short password", "short\n", []string{"add", "ben", "--roles", "engineer"}, "", auth.ErrInvalid},
		{"add engineer", "ben's password\n", []string{"add", "ben", "--roles", "engineer"}, "added ben", nil},
		{"passwd", "anna's new password\n", []string{"passwd", "anna"}, "password of anna changed", nil},
		{"passwd unknown", "whatever long\n", []string{"passwd", "carl"}, "", auth.ErrNoUser},
		{"roles", "", []string{"roles", "ben", "engineer,admin"}, "ben now holds engineer,admin", nil},
		{"disable", "", []string{"disable", "anna"}, "anna disabled", nil},
		{"token", "", []string{"token", "add", "line3", "--roles", "sales"}, "it is shown only now", nil},
		{"list", "", []string{"list"}, "anna  operator,sales", nil},
	}
	for _, s := range steps {
		out, err := runUsers(t, path, s.stdin, s.args...)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Errorf("%s: %v, want %v", s.name, err, s.wantErr)
			}
			continue
		}
		if err != nil || !strings.Contains(out, s.wantOut) {
			t.Errorf("%s: %v, output %q lacks %q", s.name, err, out, s.wantOut)
		}
	}
	st, err := bolt.OpenAuth(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Check(); err != nil {
			t.Errorf("auth store check: %v", err)
		}
	}()
	svc := auth.NewService(st, 4, nil)
	if _, _, err := svc.Login(ctx, "anna", "anna's new password", "x"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("disabled anna logs in: %v", err)
	}
	runUsers(t, path, "", "enable", "anna")
	if _, _, err := svc.Login(ctx, "anna", "anna's new password", "x"); err != nil {
		t.Errorf("anna after enable with the new password: %v", err)
	}
	ts, _ := st.Tokens(ctx)
	if len(ts) != 1 {
		t.Fatalf("tokens %+v", ts)
	}
	if out, err := runUsers(t, path, "", "token", "revoke", ts[0].ID); err != nil || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %v %q", err, out)
	}
	if out, _ := runUsers(t, path, "", "list"); !strings.Contains(out, "revoked") || !strings.Contains(out, "ben   engineer,admin") {
		t.Errorf("list after revoke:\n%s", out)
	}
	evs, _ := st.Audit(ctx, auth.AuditQuery{})
	var acts []string
	for _, e := range slices.Backward(evs) {
		if e.Via == auth.ViaCLI && e.OK {
			acts = append(acts, string(e.Action)+" "+e.Target)
		}
	}
	want := []string{"user.add anna", "user.add ben", "user.password anna", "user.roles ben", "user.disable anna",
		"token.create line3", "user.enable anna", "token.revoke line3"}
	if !slices.Equal(acts, want) {
		t.Errorf("audited %q, want %q", acts, want)
	}
}

func TestKioskRoles(t *testing.T) {
	tests := []struct {
		spec, listen string
		want         []auth.Role
		err          bool
	}{
		{"operator", "127.0.0.1:8080", []auth.Role{auth.RoleOperator}, false},
		{"operator", "localhost:8080", []auth.Role{auth.RoleOperator}, false},
		{"operator,sales", "[::1]:8080", []auth.Role{auth.RoleOperator, auth.RoleSales}, false},
		{"operator", "0.0.0.0:8080", nil, false},
		{"operator", ":8080", nil, false},
		{"operator", "192.168.1.20:8080", nil, false},
		{"none", "127.0.0.1:8080", nil, false},
		{"", "127.0.0.1:8080", nil, false},
		{"boss", "127.0.0.1:8080", nil, true},
	}
	for _, tt := range tests {
		got, err := kioskRoles(tt.spec, tt.listen)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("kioskRoles(%q, %q) = %v, %v; want %v", tt.spec, tt.listen, got, err, tt.want)
		}
	}
}
