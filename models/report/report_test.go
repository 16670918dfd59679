package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/models"
)

// The shipped default model: the report must work on it as committed.
const defaultDir = "../demo-defects/v1"

var testNow = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func defaultInput(t testing.TB, lang string) Input {
	t.Helper()
	c, err := models.LoadCard(filepath.Join(defaultDir, models.CardFile))
	if err != nil {
		t.Fatal(err)
	}
	sheet, err := os.ReadFile("../../datasets/contact-sheets/demo-defects.png")
	if err != nil {
		t.Fatal(err)
	}
	live := &Live{
		Active:      true,
		Activations: []Activation{{At: testNow.Add(-time.Hour), By: "anna", Action: "model.activate", Replaced: "demo-defects/v0", OK: true}},
		Reviews:     &ReviewStats{From: testNow.Add(-8 * time.Hour), To: testNow, Verdicts: 120, Reviewed: 20, Confirmed: 17, Overridden: 3, ByOutcome: map[string]int{"ok": 100, "nok": 15, "uncertain": 5}},
	}
	return Input{Card: c, Dir: defaultDir, Lang: lang, ContactSheet: sheet, ContactSheetSource: "datasets/contact-sheets/demo-defects.png", Live: live, Now: testNow}
}

// needPoppler skips without poppler-utils, except under CI=true where it fails.
func needPoppler(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"pdftotext", "pdftoppm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (poppler-utils; make setup-test installs it)", tool)
			}
			t.Skipf("%s missing: install poppler-utils (make setup-test) to check the PDF", tool)
		}
	}
}

// renderPDF writes r as PDF into dir and returns the path, pdftotext's
// text of it, and the pages pdftoppm made of it.
func renderPDF(t *testing.T, r *Report, dir string) (string, string, []string) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.PDF(&buf, PDFOptions{}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "report-"+r.Lang+".pdf")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", p, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	if out, err := exec.Command("pdftoppm", "-r", "40", "-png", p, filepath.Join(dir, "page-"+r.Lang)).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	pages, err := filepath.Glob(filepath.Join(dir, "page-"+r.Lang+"-*.png"))
	if err != nil {
		t.Fatal(err)
	}
	return p, string(out), pages
}

func TestDefaultModelReportSections(t *testing.T) {
	needPoppler(t)
	dir := t.TempDir()
	if d := os.Getenv("REPORT_OUT"); d != "" {
		dir = d // keep the PDFs and pages to look at
	}
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			in := defaultInput(t, lang)
			r, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			_, text, pages := renderPDF(t, r, dir)
			norm := strings.Join(strings.Fields(text), " ")
			for i, s := range r.Sections {
				if !strings.Contains(norm, fmt.Sprintf("%d %s", i+1, s.Title)) {
					t.Errorf("section %d %q missing from the PDF's text", i+1, s.Title)
				}
			}
			// Long hashes may wrap in a table cell: compare them without spaces.
			flat := strings.Join(strings.Fields(text), "")
			c := in.Card
			for _, want := range []string{c.ONNXSHA256, c.Dataset.ManifestHash, r.SHA256, c.IntendedUse[:40], "missing_hole", "anna", "demo-defects/v0", "dHash16×16"} {
				if !strings.Contains(flat, strings.Join(strings.Fields(want), "")) {
					t.Errorf("%q missing from the PDF's text", want)
				}
			}
			for _, f := range r.Files {
				if !strings.Contains(flat, f.Name+f.SHA256) {
					t.Errorf("file %s with its sha256 missing from the PDF's text", f.Name)
				}
			}
			if lang == "de" && !strings.Contains(norm, "Datenqualität und Verzerrungen") {
				t.Error("umlauts lost: Datenqualität not in the German PDF's text")
			}
			// Every page became an image, and the footer counts them all.
			m := regexp.MustCompile(`(?:Seite|Page) 1 (?:von|of) (\d+)`).FindStringSubmatch(norm)
			if m == nil || m[1] != fmt.Sprint(len(pages)) || len(pages) < 3 {
				t.Errorf("pdftoppm made %d pages; the footer says %v", len(pages), m)
			}
		})
	}
}

// TestReportIsReproducible: the same input gives the same content sum and
// the same PDF bytes; another time gives another sum.
func TestReportIsReproducible(t *testing.T) {
	in := defaultInput(t, "en")
	a, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	var pa, pb bytes.Buffer
	if err := a.PDF(&pa, PDFOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.PDF(&pb, PDFOptions{}); err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != b.SHA256 || !bytes.Equal(pa.Bytes(), pb.Bytes()) {
		t.Error("two builds of the same input differ")
	}
	in.Now = in.Now.Add(time.Second)
	if c, _ := Build(in); c.SHA256 == a.SHA256 {
		t.Error("another report time gives the same content sha256")
	}
}

func TestBuildRefuses(t *testing.T) {
	in := defaultInput(t, "fr")
	if _, err := Build(in); !errors.Is(err, ErrLang) {
		t.Errorf("lang fr: %v, want ErrLang", err)
	}
	// A copy of the version whose model file was changed after the card.
	dir := t.TempDir()
	for _, n := range []string{models.ModelFile, models.CardFile, "manifest.json"} {
		b, err := os.ReadFile(filepath.Join(defaultDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if n == models.ModelFile {
			b = append(b, 0)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in = defaultInput(t, "de")
	in.Dir = dir
	if _, err := Build(in); !errors.Is(err, models.ErrTampered) {
		t.Errorf("changed model file: %v, want ErrTampered", err)
	}
	var buf bytes.Buffer
	r, err := Build(defaultInput(t, "de"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PDF(&buf, PDFOptions{FontDir: t.TempDir()}); !errors.Is(err, ErrNoFont) {
		t.Errorf("no fonts: %v, want ErrNoFont", err)
	}
}

// BenchmarkDefaultModelReport measures the goal: the default model's
// report, built and rendered as PDF, in under 5 s.
func BenchmarkDefaultModelReport(b *testing.B) {
	in := defaultInput(b, "de")
	for b.Loop() {
		r, err := Build(in)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.PDF(io.Discard, PDFOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCataloguesMatch: every key the builder uses is in both catalogues,
// and both have the same keys, so no text of the report goes blank.
func TestCataloguesMatch(t *testing.T) {
	src, err := os.ReadFile("content.go")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`b\.tr\("([a-z.]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(used) < 50 {
		t.Fatalf("found only %d uses of b.tr in content.go; the pattern no longer matches the code", len(used))
	}
	keys := []string{}
	for _, m := range used {
		if !strings.HasSuffix(m[1], ".") { // "risk." + category, below
			keys = append(keys, m[1])
		}
	}
	for _, c := range models.RiskCategories {
		keys = append(keys, "risk."+c)
	}
	for _, k := range keys {
		for _, lang := range Languages() {
			if catalogues[lang][k] == "" {
				t.Errorf("key %q missing from the %s catalogue", k, lang)
			}
		}
	}
	for k := range catalogues["en"] {
		if _, ok := catalogues["de"][k]; !ok {
			t.Errorf("key %q only in en", k)
		}
	}
	for k := range catalogues["de"] {
		if _, ok := catalogues["en"][k]; !ok {
			t.Errorf("key %q only in de", k)
		}
	}
}

// TestAnomalyModelReport: a good-only model's report shows its
// evaluation and lists its memory bank among the files, and refuses a
// bank that no longer matches the card.
func TestAnomalyModelReport(t *testing.T) {
	reg := models.Registry{Root: t.TempDir()}
	src := t.TempDir()
	for name, content := range map[string]string{"model.onnx": "backbone graph", "bank.f16": "patch bank"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := &models.Card{
		Name: "anom", Version: "v1", Labels: []string{"nok", "ok"}, OKLabels: []string{"ok"}, Kind: models.KindAnomaly,
		Input: inspector.DefaultSpec(224), Outputs: "probabilities", Tool: "test", Created: testNow,
		FileSHA256: map[string]string{"bank.f16": ""},
		Anomaly: &models.AnomalyInfo{Method: "patchcore", BankFile: "bank.f16", Grid: 1, ScoreOK: 1.5, ScoreNOK: 2.5,
			Eval: &models.AnomalyEval{AUROC: 0.987, Recall: 0.9, FalseAlarms: 0.02, Good: 40, Defects: 60}},
	}
	if _, err := reg.Publish(c, map[string]string{"model.onnx": filepath.Join(src, "model.onnx"), "bank.f16": filepath.Join(src, "bank.f16")}); err != nil {
		t.Fatal(err)
	}
	in := Input{Card: c, Dir: reg.Dir("anom", "v1"), Lang: "en", Now: testNow}
	r, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := r.HTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AUROC</dt><dd>0.987", "bank.f16</td><td>" + c.FileSHA256["bank.f16"], "anomaly model", "Not computed yet"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("anomaly report lacks %q", want)
		}
	}
	if err := os.WriteFile(filepath.Join(in.Dir, "bank.f16"), []byte("another bank"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(in); !errors.Is(err, models.ErrTampered) {
		t.Errorf("changed bank: %v, want ErrTampered", err)
	}
}
