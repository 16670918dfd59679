package eval

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/onnx/onnxtest"
	"github.com/pruefplatz/pruefplatz/models"
)

func TestLabelMapNamesUnknownClass(t *testing.T) {
	c := &models.Card{Name: "m", Version: "v1", Labels: []string{"ok", "scratch"}}
	m, err := LabelMap(c, []string{"scratch", "ok"})
	if err != nil || m["ok"] != 0 || m["scratch"] != 1 {
		t.Fatalf("LabelMap = %v, %v", m, err)
	}
	if _, err := LabelMap(c, []string{"ok", "dent"}); err == nil || !strings.Contains(err.Error(), `"dent"`) {
		t.Fatalf("unknown class: got %v, want an error naming dent", err)
	}
}

// TestEvaluateShippedModel runs demo-parts v1 on 3 images per class plus one corrupt file.
func TestEvaluateShippedModel(t *testing.T) {
	lib := onnxtest.FindLibrary(t)
	reg := models.Registry{Root: filepath.Join("..", "..", "models")}
	card, err := reg.Get("demo-parts", "v1")
	if err != nil {
		t.Fatalf("the shipped model is committed: %v", err)
	}
	dir := t.TempDir()
	if err := demo.WriteImages(dir, 1, demo.SetParts, card.Labels, 3); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, card.Labels[0], "corrupt.jpg")
	if err := os.WriteFile(bad, []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := datasets.LoadWith(dir, datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := onnx.Init(lib); err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate(context.Background(), card, reg.ModelPath(card), ds)
	if err != nil {
		t.Fatal(err)
	}
	n := 3 * len(card.Labels)
	if res.Metrics.N != n || len(res.Probs) != n {
		t.Fatalf("evaluated %d images (%d probs), want %d", res.Metrics.N, len(res.Probs), n)
	}
	if len(ds.Samples) == n+1 && (len(res.Skipped) != 1 || res.Skipped[0].Path != bad) {
		t.Fatalf("skipped = %+v, want the corrupt file", res.Skipped)
	}
	if res.Metrics.Accuracy < 0.5 {
		t.Fatalf("accuracy %.2f on training-distribution images; the model or the label mapping is broken", res.Metrics.Accuracy)
	}
}
