package stationui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
)

// The real store provides every optional method the UI looks for.
var (
	_ Store    = (*bolt.Store)(nil)
	_ Counter  = (*bolt.Store)(nil)
	_ Exporter = (*bolt.Store)(nil)
	_ Backuper = (*bolt.Store)(nil)
	_ Imager   = (*bolt.Store)(nil)
	_ Statser  = (*bolt.Store)(nil)
)

// TestWithBoltStore runs the review, image, export and backup paths against
// the real bbolt store.
func TestWithBoltStore(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "verdicts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Check(); err != nil {
			t.Errorf("store check: %v", err)
		}
		store.Close()
	})
	users, err := bolt.OpenAuth(filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := users.Check(); err != nil {
			t.Errorf("auth store check: %v", err)
		}
	})
	ctx := context.Background()
	svc := auth.NewService(users, bcrypt.MinCost, nil)
	if err := svc.AddUser(ctx, auth.Actor{Name: "test"}, "Anna", "anna's password", auth.AllRoles); err != nil {
		t.Fatal(err)
	}
	st := newFakeStation(store)
	srv := New(Config{Operator: "kiosk", Auth: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st, store, nil)
	f := &fixture{srv: srv, st: st, h: srv.Handler(), auth: svc}
	f.cookie, f.csrf = f.login(t, "Anna", "anna's password")
	v, err := st.record(ctx, "dent", 0.9)
	if err != nil {
		t.Fatal(err)
	}
	if rec := f.do("POST", fmt.Sprintf("/api/verdicts/%d/review", v.ID), "application/json", []byte(`{"label":"ok","comment":"paint"}`)); rec.Code != 200 {
		t.Fatalf("review: %d %s", rec.Code, rec.Body.String())
	}
	got, err := store.Get(ctx, v.ID)
	if err != nil || got.Review == nil || got.Review.Label != "ok" || got.Review.By != "Anna" || got.Review.Via != "session" || got.Review.Outcome != "ok" {
		t.Fatalf("stored review %+v, %v", got, err)
	}
	if rec := f.do("GET", fmt.Sprintf("/api/verdicts/%d/thumb", v.ID), "", nil); rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), v.Thumb) {
		t.Errorf("thumb: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := f.do("GET", "/api/verdicts/77/image", "", nil); rec.Code != 404 {
		t.Errorf("missing image: %d", rec.Code)
	}
	rec := f.do("GET", "/api/counts", "", nil)
	if !strings.Contains(rec.Body.String(), `"ok":1`) {
		t.Errorf("counts: %s", rec.Body.String())
	}
	rec = f.do("GET", "/api/export?format=csv", "", nil)
	if rec.Code != 200 || strings.Count(rec.Body.String(), "\n") != 2 || !strings.Contains(rec.Body.String(), "paint") {
		t.Errorf("export: %d %q", rec.Code, rec.Body.String())
	}
	// The store's size comes from the store itself (the station cannot
	// know it): both the status's store_size_bytes and store.size_bytes.
	rec = f.do("GET", "/api/status", "", nil)
	var status struct {
		StoreSize int64                `json:"store_size_bytes"`
		Store     inspector.StoreStats `json:"store"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &status); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(store.Path())
	if err != nil {
		t.Fatal(err)
	}
	if status.Store.Count != 1 || status.StoreSize != fi.Size() || status.Store.SizeBytes != fi.Size() {
		t.Errorf("status store %+v, size %d; the file has %d bytes", status.Store, status.StoreSize, fi.Size())
	}
	if rec := f.do("GET", "/metrics", "", nil); !strings.Contains(rec.Body.String(), fmt.Sprintf("pruefplatz_store_size_bytes %d", fi.Size())) &&
		!strings.Contains(rec.Body.String(), fmt.Sprintf("pruefplatz_store_size_bytes %g", float64(fi.Size()))) {
		t.Errorf("metrics lack the store size %d", fi.Size())
	}
	rec = f.do("GET", "/api/backup", "", nil)
	if rec.Code != 200 {
		t.Fatalf("backup: %d", rec.Code)
	}
	// The backup is a bbolt file holding the verdict.
	p := filepath.Join(t.TempDir(), "copy.db")
	if err := writeFile(p, rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(p, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("backup is not a bbolt file: %v", err)
	}
	db.Close()
	cp, err := bolt.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if _, err := cp.Get(ctx, v.ID); err != nil {
		t.Errorf("verdict not in backup: %v", err)
	}
	// Export and backup are in the audit log, with who and from where.
	evs, err := users.Audit(ctx, auth.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, e := range evs {
		entries = append(entries, fmt.Sprintf("%s %s %s %s %v", e.Action, e.Actor, e.Via, e.Addr, e.OK))
	}
	for _, want := range []string{"verdicts.export Anna session 192.0.2.1 true", "store.backup Anna session 192.0.2.1 true"} {
		if !slices.Contains(entries, want) {
			t.Errorf("audit lacks %q: %q", want, entries)
		}
	}
	// The backup of the verdict store holds no users: they live in their own file.
	if strings.Contains(rec.Body.String(), "password_hash") {
		t.Error("the verdict backup contains password hashes")
	}
}
