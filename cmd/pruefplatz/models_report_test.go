package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/onnx/onnxtest"
	"github.com/pruefplatz/pruefplatz/models"
)

// copyDefects copies the shipped demo-defects v1 (model, card, manifest)
// into a temp registry.
func copyDefects(t *testing.T) models.Registry {
	t.Helper()
	src := filepath.Join("..", "..", "models", "demo-defects", "v1")
	reg := models.Registry{Root: t.TempDir()}
	dst := reg.Dir("demo-defects", "v1")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{models.ModelFile, models.CardFile, "manifest.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatalf("the shipped model is committed: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func TestModelsEditAndReport(t *testing.T) {
	reg := copyDefects(t)
	root := reg.Root
	before, err := reg.Get("demo-defects", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runModels(t, "--models", root, "edit", "demo-defects/v1"); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("edit without fields: %v", err)
	}
	if _, err := runModels(t, "--models", root, "edit", "demo-defects/v1", "--risk-category", "severe", "--risk-reason", "x"); !errors.Is(err, models.ErrBadDoc) {
		t.Errorf("edit with an unknown category: %v, want ErrBadDoc", err)
	}
	if _, err := runModels(t, "--models", root, "edit", "demo-defects/v1", "--limitations", "Nur für Flansche, nicht für Gussteile.", "--by", "Jörg"); err != nil {
		t.Fatal(err)
	}
	c, err := reg.Get("demo-defects", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.DocHistory); n != len(before.DocHistory)+1 || c.DocHistory[n-1].By != "Jörg" || c.IntendedUse != before.IntendedUse {
		t.Errorf("after edit: history %+v, intended use %q", c.DocHistory, c.IntendedUse)
	}
	if err := reg.Verify(c); err != nil || c.ContentSHA256() != before.ContentSHA256() {
		t.Errorf("edit touched the model: %v, %s → %s", err, before.ContentSHA256(), c.ContentSHA256())
	}

	out := filepath.Join(t.TempDir(), "r.html")
	if _, err := runModels(t, "--models", root, "report", "demo-defects/v1", "--format", "html", "--lang", "de", "--out", out); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Nur für Flansche, nicht für Gussteile.", "Jörg", "Kein Ergebnisspeicher gelesen", c.ONNXSHA256} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"format", []string{"--format", "docx"}, "want pdf or html"},
		{"language", []string{"--lang", "fr"}, "unknown language"},
		{"missing store", []string{"--store", filepath.Join(t.TempDir(), "no.db")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.pdf")
			_, err := runModels(t, append([]string{"--models", root, "report", "demo-defects/v1", "--out", bad}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
			}
			if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed report left %s behind", bad)
			}
		})
	}
}

// TestModelsCheck runs the checks through ONNX Runtime on a small dataset
// written for the test, with a manifest that records the light of each
// image, in place of the version's own (the checks read the manifest).
func TestModelsCheck(t *testing.T) {
	onnxtest.FindLibrary(t)
	reg := copyDefects(t)
	data := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 3))
	type entry struct {
		Path       string            `json:"path"`
		Class      string            `json:"class"`
		Split      string            `json:"split"`
		SHA256     string            `json:"sha256"`
		Conditions map[string]string `json:"conditions,omitempty"`
	}
	var files []entry
	for i := range 28 {
		class := []string{"ok", "crack"}[i%2]
		split := "train"
		switch {
		case i >= 24:
			split = "val"
		case i >= 12:
			split = "test"
		}
		light := []string{"bright", "dim"}[i/2%2]
		img := image.NewRGBA(image.Rect(0, 0, 640, 480))
		for p := range img.Pix {
			img.Pix[p] = uint8(60 + rng.IntN(120))
		}
		img.Set(0, 0, color.RGBA{})
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, nil); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(class, string(rune('a'+i))+".jpg")
		if err := os.MkdirAll(filepath.Join(data, class), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, p), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		sum, _ := models.FileSHA256(filepath.Join(data, p))
		files = append(files, entry{filepath.ToSlash(p), class, split, sum, map[string]string{"light": light}})
	}
	m, _ := json.Marshal(map[string]any{"files": files})
	if err := os.WriteFile(filepath.Join(reg.Dir("demo-defects", "v1"), "manifest.json"), m, 0o644); err != nil {
		t.Fatal(err)
	}
	// The session comes with the dataset, not the manifest.
	sessions := map[string]map[string]string{}
	for i, f := range files {
		sessions[f.Path] = map[string]string{"session": []string{"s1", "s2"}[i%3/2]}
	}
	sb, _ := json.Marshal(sessions)
	if err := os.WriteFile(filepath.Join(data, "conditions.json"), sb, 0o644); err != nil {
		t.Fatal(err)
	}
	// As a card from before the drift monitor: without a score baseline.
	cardPath := filepath.Join(reg.Dir("demo-defects", "v1"), models.CardFile)
	var card map[string]any
	if b, err := os.ReadFile(cardPath); err != nil || json.Unmarshal(b, &card) != nil {
		t.Fatalf("card: %v", err)
	}
	delete(card, "score_baseline")
	if b, err := json.Marshal(card); err != nil || os.WriteFile(cardPath, b, 0o644) != nil {
		t.Fatal("card without baseline not written")
	}
	out, err := runModels(t, "--models", reg.Root, "check", "demo-defects/v1", "--data", data)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	c, err := reg.Get("demo-defects", "v1")
	if err != nil {
		t.Fatal(err)
	}
	q := c.Quality
	if q == nil || q.Images != 12 || q.NearDuplicates.Train != 12 || q.NearDuplicates.Test != 12 || len(q.Subgroups) != 4 ||
		strings.Join(q.Conditions, ",") != "light,session" {
		t.Fatalf("recorded checks %+v", q)
	}
	if err := reg.Verify(c); err != nil {
		t.Errorf("check touched the model: %v", err)
	}
	// The shipped card predates the drift monitor: check gives it the
	// baseline from the validation images, as training would.
	if c.ScoreBaseline == nil || c.ScoreBaseline.Total() != 4 {
		t.Errorf("score baseline %+v, want one from the 4 validation images", c.ScoreBaseline)
	}

	// Data that is not the manifest's is refused, and the card keeps its checks.
	if err := os.WriteFile(filepath.Join(data, files[13].Path), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runModels(t, "--models", reg.Root, "check", "demo-defects/v1", "--data", data); err == nil || !strings.Contains(err.Error(), "not the model's dataset") {
		t.Errorf("changed data: %v", err)
	}
	if c2, _ := reg.Get("demo-defects", "v1"); c2.Quality == nil || !c2.Quality.Computed.Equal(q.Computed) {
		t.Error("a refused check changed the card's checks")
	}
}

// TestServeModelReport downloads the active model's report from a real
// station (`serve` with the shipped registry), as the engineer page's link
// does: the station fills in its own record of the version.
func TestServeModelReport(t *testing.T) {
	t.Parallel() // a whole station: it mostly waits
	dir := t.TempDir()
	writeFrames(t, dir, 3)
	s := startServe(t, "--source", dir, "--fps", "30", "--kiosk-role", "operator,engineer")
	pdf := s.get(t, "/api/models/demo-defects/v1/report")
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("report is not a PDF: %.20q", pdf)
	}
	// The station's monitor checks once as it starts; wait for that first
	// reading rather than race it.
	var html string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		html = string(s.get(t, "/api/models/demo-defects/v1/report?format=html&lang=en"))
		if strings.Contains(html, "score_drift") || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		"This version is the station&#39;s active model.",
		"No activation of this version in the audit log.", // read, and empty: activated by active.json
		"Data quality and bias checks", "dHash 16×16",
		"score_drift", // the station's own monitor, about this model
	} {
		if !strings.Contains(html, want) {
			t.Errorf("station's report lacks %q", want)
		}
	}
	if strings.Contains(html, "No verdict store was read") {
		t.Error("the station did not read its own store for the report")
	}
}

func TestTrainRefusesBadDocumentation(t *testing.T) {
	onnxtest.FindLibrary(t)
	reg := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown category", []string{"--risk-category", "medium", "--risk-reason", "x"}, "risk category \"medium\""},
		{"category without reason", []string{"--risk-category", "high"}, "needs a reason"},
		{"anomaly, category without reason", []string{"--anomaly", "--intended-use", "x", "--risk-category", "high"}, "needs a reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newTrainCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"--data", t.TempDir(), "--name", "x", "--models", reg}, tc.args...))
			if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(reg); len(entries) != 0 {
		t.Errorf("a refused training left %d entries in the registry", len(entries))
	}
}

// An anomaly model takes the provider's statement at training, like a
// classifier: it is the published card's first documentation revision.
func TestTrainAnomalyRecordsDocumentation(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	if err := onnx.Init(filepath.Join(repo, ".deps", "onnxruntime", ortLibName)); err != nil {
		t.Fatalf("ONNX Runtime: %v (run make setup)", err)
	}
	dir := t.TempDir()
	data, reg := filepath.Join(dir, "data"), filepath.Join(dir, "models")
	if err := demo.WriteImages(data, 1, demo.SetDefects, []string{"ok"}, 10); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(reg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repo, "models", "backbones"), filepath.Join(reg, "backbones")); err != nil {
		t.Fatal(err)
	}
	cmd := newTrainCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--anomaly", "--data", data, "--name", "anom", "--models", reg, "--ok-labels", "ok", "--threads", "2",
		"--intended-use", "flange surfaces at line 3", "--risk-category", "limited", "--risk-reason", "a person reviews every NOK"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("train: %v\n%s", err, out.String())
	}
	c, err := models.Registry{Root: reg}.Get("anom", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Doc.IntendedUse != "flange surfaces at line 3" || c.Doc.RiskCategory != "limited" || len(c.DocHistory) != 1 {
		t.Errorf("card doc %+v, history %d", c.Doc, len(c.DocHistory))
	}
	if err := (models.Registry{Root: reg}).Verify(c); err != nil {
		t.Errorf("the recorded statement broke the version's verification: %v", err)
	}
}
