package stationui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

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
	st := newFakeStation(store)
	srv := New(Config{Operator: "Anna", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st, store, nil)
	f := &fixture{srv: srv, st: st, h: srv.Handler()}
	ctx := context.Background()
	v, err := st.record(ctx, "dent", 0.9)
	if err != nil {
		t.Fatal(err)
	}
	if rec := f.do("POST", fmt.Sprintf("/api/verdicts/%d/review", v.ID), "", []byte(`{"label":"ok","comment":"paint"}`)); rec.Code != 200 {
		t.Fatalf("review: %d %s", rec.Code, rec.Body.String())
	}
	got, err := store.Get(ctx, v.ID)
	if err != nil || got.Review == nil || got.Review.Label != "ok" || got.Review.By != "Anna" || got.Review.Outcome != "ok" {
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
	if rec := f.do("GET", "/api/status", "", nil); !strings.Contains(rec.Body.String(), `"store":{"count":1`) {
		t.Errorf("status lacks store stats: %s", rec.Body.String())
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
}
