package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/onnx/onnxtest"
	"github.com/pruefplatz/pruefplatz/models"
)

// copyModel copies the shipped demo-parts v1 into a temp registry.
func copyModel(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "..", "models", "demo-parts", "v1")
	if _, err := os.Stat(filepath.Join(src, models.ModelFile)); err != nil {
		t.Fatalf("no shipped model at %s (it is committed): %v", src, err)
	}
	root := t.TempDir()
	dst := filepath.Join(root, "demo-parts", "v1")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{models.ModelFile, models.CardFile} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func runModels(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newModelsCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestModelsActivateListShow(t *testing.T) {
	onnxtest.FindLibrary(t)
	root := copyModel(t)
	if _, err := runModels(t, "--models", root, "activate", "demo-parts", "v1"); err != nil {
		t.Fatalf("activate: %v", err)
	}
	out, err := runModels(t, "--models", root, "list")
	if err != nil || !strings.Contains(out, "*") || !strings.Contains(out, "demo-parts") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = runModels(t, "--models", root, "show", "demo-parts/v1")
	if err != nil || !strings.Contains(out, "hex_nut") || !strings.Contains(out, "test metrics") {
		t.Fatalf("show: %v\n%s", err, out)
	}
}

func TestModelsActivateRefusesTampered(t *testing.T) {
	root := copyModel(t)
	f, err := os.OpenFile(filepath.Join(root, "demo-parts", "v1", models.ModelFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = runModels(t, "--models", root, "activate", "demo-parts", "v1")
	if !errors.Is(err, models.ErrTampered) {
		t.Fatalf("activate of a tampered model: got %v, want ErrTampered", err)
	}
	if _, err := os.Stat(filepath.Join(root, models.ActiveFile)); !os.IsNotExist(err) {
		t.Fatalf("active.json written after a refused activation: %v", err)
	}
}

func TestModelsActivateRefusesLabelMismatchAndRollback(t *testing.T) {
	onnxtest.FindLibrary(t)
	root := copyModel(t)
	v1 := filepath.Join(root, "demo-parts", "v1")
	v2 := filepath.Join(root, "demo-parts", "v2")
	if err := os.MkdirAll(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(v1, models.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v2, models.ModelFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	card, err := models.LoadCard(filepath.Join(v1, models.CardFile))
	if err != nil {
		t.Fatal(err)
	}
	card.Version = "v2"
	writeCard := func(c *models.Card) {
		t.Helper()
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v2, models.CardFile), j, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runModels(t, "--models", root, "activate", "demo-parts", "v1"); err != nil {
		t.Fatalf("activate v1: %v", err)
	}
	bad := *card
	bad.Labels = append(append([]string{}, card.Labels...), "extra")
	writeCard(&bad)
	if _, err := runModels(t, "--models", root, "activate", "demo-parts", "v2"); !errors.Is(err, inspector.ErrModelShape) {
		t.Fatalf("activate with 7 labels on a 6-class model: got %v, want ErrModelShape", err)
	}
	if a, err := (models.Registry{Root: root}).ReadActive(); err != nil || a.Version != "v1" {
		t.Fatalf("active after refusal = %+v, %v; want v1", a, err)
	}
	writeCard(card)
	if _, err := runModels(t, "--models", root, "activate", "demo-parts", "v2"); err != nil {
		t.Fatalf("activate v2: %v", err)
	}
	out, err := runModels(t, "--models", root, "rollback")
	if err != nil || !strings.Contains(out, "demo-parts/v1") {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
}

func TestModelsImportRefusesCorruptFile(t *testing.T) {
	onnxtest.FindLibrary(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "reg")
	bad := filepath.Join(dir, "bad.onnx")
	labels := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(bad, bytes.Repeat([]byte{0x8f, 0x13, 0xff}, 200), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(labels, []byte("ok\nscratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runModels(t, "--models", root, "import", "--onnx", bad, "--labels", labels, "--input-size", "64", "--name", "x")
	if err == nil || !strings.Contains(err.Error(), "bad.onnx") {
		t.Fatalf("import of random bytes: got %v, want an error naming the file", err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Fatalf("registry written after a refused import: %v", err)
	}
}

func TestModelsListReportsUnparseableCard(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "broken", "v1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, models.CardFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runModels(t, "--models", root, "list")
	if err != nil || !strings.Contains(out, "problem:") || !strings.Contains(out, "broken") {
		t.Fatalf("list with a broken card: %v\n%s", err, out)
	}
}

// TestModelsImport imports the shipped parts model as if it came from
// elsewhere: right labels publish a card marked imported that activates;
// one label too few is refused as a shape mismatch and writes nothing.
func TestModelsImport(t *testing.T) {
	onnxtest.FindLibrary(t)
	shipped := copyModel(t)
	card, err := models.Registry{Root: shipped}.Get("demo-parts", "v1")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(shipped, "demo-parts", "v1", models.ModelFile)
	dir := t.TempDir()
	root := filepath.Join(dir, "reg")
	labels := filepath.Join(dir, "labels.txt")
	short := filepath.Join(dir, "short.txt")
	if err := os.WriteFile(labels, []byte(strings.Join(card.Labels, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte(strings.Join(card.Labels[1:], "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := []string{"--input-size", "64", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--ok-labels", ""}

	_, err = runModels(t, append([]string{"--models", root, "import", "--onnx", src, "--labels", short, "--name", "ext"}, spec...)...)
	if !errors.Is(err, inspector.ErrModelShape) {
		t.Fatalf("import with %d labels for %d outputs: %v, want ErrModelShape", len(card.Labels)-1, len(card.Labels), err)
	}
	if _, err := os.Stat(filepath.Join(root, "ext")); !os.IsNotExist(err) {
		t.Fatalf("refused import left %s: %v", filepath.Join(root, "ext"), err)
	}

	_, err = runModels(t, append([]string{"--models", root, "import", "--onnx", src, "--labels", labels, "--name", "ext", "--interpolation", "cubic"}, spec...)...)
	if err == nil || !strings.Contains(err.Error(), `interpolation "cubic"`) {
		t.Fatalf("import with interpolation cubic: %v, want an error naming it", err)
	}
	if _, err := os.Stat(filepath.Join(root, "ext")); !os.IsNotExist(err) {
		t.Fatalf("refused import left %s: %v", filepath.Join(root, "ext"), err)
	}

	out, err := runModels(t, append([]string{"--models", root, "import", "--onnx", src, "--labels", labels, "--name", "ext"}, spec...)...)
	if err != nil || !strings.Contains(out, "ext/v1") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	got, err := models.Registry{Root: root}.Get("ext", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Imported || got.Training != nil || len(got.Metrics) != 0 || got.ONNXSHA256 != card.ONNXSHA256 ||
		strings.Join(got.Labels, ",") != strings.Join(card.Labels, ",") || got.OKLabels != nil ||
		got.Input.Interpolation != inspector.InterpArea {
		t.Fatalf("imported card %+v", got)
	}
	if _, err := runModels(t, "--models", root, "activate", "ext", "v1"); err != nil {
		t.Fatalf("activate the imported model: %v", err)
	}
	out, err = runModels(t, "--models", root, "show", "ext")
	if err != nil || !strings.Contains(out, "imported") || !strings.Contains(out, card.ONNXSHA256) {
		t.Fatalf("show: %v\n%s", err, out)
	}
}

func TestModelRefForms(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		name, version string
		bad           bool
	}{
		{args: []string{"trial/v1"}, name: "trial", version: "v1"},
		{args: []string{"trial", "v1"}, name: "trial", version: "v1"},
		{args: []string{"trial"}, name: "trial"},
		{args: []string{"trial/v1", "v2"}, bad: true},
		{args: []string{"/v1"}, bad: true},
		{args: []string{"a/b/c"}, bad: true},
	} {
		name, version, err := modelRef(tc.args)
		if (err != nil) != tc.bad || name != tc.name || version != tc.version {
			t.Errorf("%q: %q %q %v", tc.args, name, version, err)
		}
	}
}

func TestModelsActivateTakesNameSlashVersion(t *testing.T) {
	root := copyModel(t)
	if _, err := runModels(t, "--models", root, "activate", "demo-parts/v1"); err != nil {
		t.Fatalf("activate demo-parts/v1: %v", err)
	}
	a, err := models.Registry{Root: root}.ReadActive()
	if err != nil || a.Name != "demo-parts" || a.Version != "v1" {
		t.Fatalf("active %+v, %v", a, err)
	}
	if _, err := runModels(t, "--models", root, "activate", "demo-parts"); err == nil || !strings.Contains(err.Error(), "NAME/VERSION") {
		t.Errorf("activate without a version: %v", err)
	}
	out, err := runModels(t, "--models", root, "show", "demo-parts/v1")
	if err != nil || !strings.Contains(out, "demo-parts") {
		t.Errorf("show demo-parts/v1: %v\n%s", err, out)
	}
}
