package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
)

// frameJPEG is a small real JPEG, different for each i.
func frameJPEG(t *testing.T, i int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for p := range img.Pix {
		img.Pix[p] = byte(i*37 + p)
	}
	img.Set(0, 0, color.RGBA{byte(i), 0, 0, 255})
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func runDataset(args ...string) (string, error) {
	root := newRootCmd()
	root.SetArgs(append([]string{"dataset"}, args...))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestDatasetFromStoreRoundTrip stores verdicts, reviews some (confirming,
// overruling, settling uncertain ones), exports the reviewed ones and
// loads the result with the datasets loader that train uses.
func TestDatasetFromStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	storePath := filepath.Join(dir, "verdicts.db")
	st, err := bolt.Open(storePath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	model := inspector.ModelRef{Name: "demo-defects", Version: "v1", SHA256: "abc"}
	type plan struct {
		outcome inspector.Outcome
		label   string
		review  string // reviewer's label; "" = not reviewed
	}
	plans := []plan{
		{inspector.OutcomeNOK, "crack", ""}, // before --since
		{inspector.OutcomeOK, "ok", "ok"},
		{inspector.OutcomeOK, "ok", "ok"},
		{inspector.OutcomeNOK, "crack", "crack"},
		{inspector.OutcomeNOK, "crack", "crack"},
		{inspector.OutcomeOK, "ok", "dent"}, // override: the model missed a dent
		{inspector.OutcomeUncertain, "", "dent"},
		{inspector.OutcomeOK, "ok", ""}, // not reviewed
	}
	for i, p := range plans {
		v := &inspector.Verdict{Time: t0.Add(time.Duration(i) * 24 * time.Hour / 8), Model: model, Trigger: "auto",
			Decision: inspector.Decision{Outcome: p.outcome, Label: p.label}, Image: frameJPEG(t, i), Thumb: []byte("t")}
		if i == 0 {
			v.Time = t0.Add(-48 * time.Hour)
			v.Review = &inspector.Review{Label: "crack", Outcome: inspector.OutcomeNOK, By: "old"}
		}
		if err := st.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
		if p.review != "" {
			o := inspector.OutcomeNOK
			if p.review == "ok" {
				o = inspector.OutcomeOK
			}
			if err := st.SetReview(ctx, v.ID, inspector.Review{Label: p.review, Outcome: o, By: "anna", Via: "session",
				At: v.Time.Add(time.Minute), Confirmed: p.review == p.label}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// While a station holds the store, the export says so and writes nothing.
	out := filepath.Join(dir, "export", "reviewed")
	if msg, err := runDataset("from-store", "--store", storePath, "--since", "2026-12-01", "--reviewed", "--out", out); err == nil || !strings.Contains(err.Error(), "running station") {
		t.Fatalf("locked store: %v\n%s", err, msg)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a failed export left %s: %v", out, err)
	}
	st.Close()

	msg, err := runDataset("from-store", "--store", storePath, "--since", "2026-12-01", "--reviewed", "--out", out)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, msg)
	}
	if !strings.Contains(msg, "6 images in 3 classes (1 overrides)") {
		t.Errorf("summary: %s", msg)
	}
	ds, err := datasets.Load(out)
	if err != nil {
		t.Fatalf("the export does not load as a dataset: %v", err)
	}
	counts := datasets.ClassCounts(ds.Samples)
	for _, p := range ds.Problems {
		if !p.Warning { // two images a class draw a "too few" warning, nothing worse
			t.Errorf("problem: %v", p)
		}
	}
	if len(ds.Classes) != 3 || counts["ok"] != 2 || counts["crack"] != 2 || counts["dent"] != 2 {
		t.Fatalf("classes %v counts %v problems %v", ds.Classes, counts, ds.Problems)
	}
	raw, err := os.ReadFile(filepath.Join(out, FromStoreManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m fromStoreManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	overrides := 0
	for _, f := range m.Files {
		img, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.Path)))
		if err != nil || !bytes.Equal(img, frameJPEG(t, int(f.VerdictID)-1)) {
			t.Fatalf("%s is not the frame of verdict %d: %v", f.Path, f.VerdictID, err)
		}
		if f.Reviewer != "anna" || f.Model.Name != "demo-defects" || f.Class != strings.Split(f.Path, "/")[0] {
			t.Errorf("manifest entry %+v", f)
		}
		if f.Override {
			overrides++
			if f.VerdictID != 6 || f.ModelLabel != "ok" || f.Class != "dent" {
				t.Errorf("override entry %+v", f)
			}
		}
	}
	if overrides != 1 || m.Overrides != 1 {
		t.Fatalf("%d overrides marked, want 1 (verdict 6)", overrides)
	}

	// An existing folder is never overwritten.
	if _, err := runDataset("from-store", "--store", storePath, "--reviewed", "--out", out); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("export over an existing folder: %v", err)
	}
}
