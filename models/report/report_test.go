package report

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// pdfText renders r as PDF and returns pdftotext's text of it; without
// poppler-utils it skips, except under CI=true where it fails.
func pdfText(t *testing.T, r *Report) (string, []byte) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext missing (poppler-utils; make setup-test installs it)")
		}
		t.Skip("pdftotext missing: install poppler-utils (make setup-test) to check the PDF's text")
	}
	var buf bytes.Buffer
	if err := r.PDF(&buf, PDFOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", p, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out), buf.Bytes()
}

func TestDefaultModelReportSections(t *testing.T) {
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			r, err := Build(defaultInput(t, lang))
			if err != nil {
				t.Fatal(err)
			}
			text, pdf := pdfText(t, r)
			if dir := os.Getenv("REPORT_OUT"); dir != "" {
				if err := os.WriteFile(filepath.Join(dir, "report-"+lang+".pdf"), pdf, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			norm := strings.Join(strings.Fields(text), " ")
			for i, s := range r.Sections {
				if !strings.Contains(norm, s.Title) {
					t.Errorf("section %d %q missing from the PDF's text", i+1, s.Title)
				}
			}
			c := defaultInput(t, lang).Card
			// Long hashes may wrap in a table cell: compare them without spaces.
			flat := strings.Join(strings.Fields(text), "")
			for _, want := range []string{c.ONNXSHA256, c.Dataset.ManifestHash, r.SHA256, "missing_hole", "anna"} {
				if !strings.Contains(flat, want) {
					t.Errorf("%q missing from the PDF's text", want)
				}
			}
			if lang == "de" && !strings.Contains(norm, "Datenqualität") {
				t.Error("umlauts lost: Datenqualität not in the German PDF's text")
			}
		})
	}
}
