package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/onnx/onnxtest"
	"github.com/pruefplatz/pruefplatz/models"
)

// evalData draws per demo-parts images of each class into a temporary
// ImageFolder (the same drawing as make demo-data, without its minutes).
func evalData(t *testing.T, per int, classes []string) string {
	t.Helper()
	dir := t.TempDir()
	if err := demo.WriteImages(dir, 1, demo.SetParts, classes, per); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runEval(args ...string) (string, error) {
	cmd := newEvalCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestEvalModelFile(t *testing.T) {
	onnxtest.FindLibrary(t)
	root := copyModel(t)
	card, err := models.Registry{Root: root}.Get("demo-parts", "v1")
	if err != nil {
		t.Fatal(err)
	}
	data := evalData(t, 2, card.Labels)
	modelFile := filepath.Join(root, "demo-parts", "v1", models.ModelFile)
	out := filepath.Join(t.TempDir(), "eval")

	text, err := runEval("--model", modelFile, "--data", data, "--out", out)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, text)
	}
	for _, want := range append([]string{"precision", "accuracy", "images/s"}, card.Labels...) {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m models.Metrics
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, row := range m.Confusion {
		for _, v := range row {
			total += v
		}
	}
	if want := 2 * len(card.Labels); m.N != want || total != want || len(m.PerClass) != len(card.Labels) {
		t.Fatalf("metrics.json: n %d, confusion total %d, %d classes; want %d images", m.N, total, len(m.PerClass), want)
	}
	f, err := os.Open(filepath.Join(out, "confusion.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("confusion.png: %v", err)
	}

	// The same model by registry name gives the same numbers.
	out2 := t.TempDir()
	if text2, err := runEval("--models", root, "--model", "demo-parts", "--data", data, "--out", out2); err != nil {
		t.Fatalf("eval by name: %v\n%s", err, text2)
	}
	if b2, err := os.ReadFile(filepath.Join(out2, "metrics.json")); err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("metrics by name differ from metrics by file (%v):\n%s\n%s", err, b2, b)
	}
}

func TestEvalRefusals(t *testing.T) {
	onnxtest.FindLibrary(t)
	root := copyModel(t)
	card, err := models.Registry{Root: root}.Get("demo-parts", "v1")
	if err != nil {
		t.Fatal(err)
	}
	data := evalData(t, 1, card.Labels)
	if err := os.Rename(filepath.Join(data, card.Labels[0]), filepath.Join(data, "gearwheel")); err != nil {
		t.Fatal(err)
	}
	if _, err := runEval("--models", root, "--model", "demo-parts/v1", "--data", data, "--out", t.TempDir()); err == nil || !strings.Contains(err.Error(), `"gearwheel"`) {
		t.Fatalf("unknown dataset class: %v, want an error naming gearwheel", err)
	}
	modelFile := filepath.Join(root, "demo-parts", "v1", models.ModelFile)
	f, err := os.OpenFile(modelFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	f.Close()
	if _, err := runEval("--model", modelFile, "--data", data, "--out", t.TempDir()); !errors.Is(err, models.ErrTampered) {
		t.Fatalf("tampered model file: %v, want ErrTampered", err)
	}
	if _, err := runEval("--models", root, "--model", "demo-parts", "--data", data, "--out", t.TempDir()); !errors.Is(err, models.ErrTampered) {
		t.Fatalf("tampered registry model: %v, want ErrTampered", err)
	}
}

// TestEvalWarnsOnSeenImages: two of the evaluated images are listed in the
// model's manifest as training and validation images; eval warns, counts
// them, and reports the two groups' figures apart.
func TestEvalWarnsOnSeenImages(t *testing.T) {
	onnxtest.FindLibrary(t)
	root := copyModel(t)
	card, err := models.Registry{Root: root}.Get("demo-parts", "v1")
	if err != nil {
		t.Fatal(err)
	}
	data := evalData(t, 2, card.Labels)
	files, _ := filepath.Glob(filepath.Join(data, "*", "*.jpg"))
	var mf []map[string]string
	for i, split := range []string{"train", "val", "test"} {
		sum, err := models.FileSHA256(files[i])
		if err != nil {
			t.Fatal(err)
		}
		mf = append(mf, map[string]string{"path": filepath.Base(files[i]), "split": split, "sha256": sum})
	}
	b, _ := json.Marshal(map[string]any{"files": mf})
	mustWriteFile(t, filepath.Join(root, "demo-parts", "v1", "manifest.json"), b)

	text, err := runEval("--models", root, "--model", "demo-parts", "--data", data, "--out", t.TempDir())
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, text)
	}
	n := len(files)
	for _, want := range []string{
		"warning: 2 of " + strconv.Itoa(n) + " images were in the model's training or validation split",
		"images the model never learned from (" + strconv.Itoa(n-2) + ")",
		"images from its training or validation split (2)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func mustWriteFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
