package demo

import (
	"bytes"
	"context"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCataloguePartsHaveLookAlikeFamilies(t *testing.T) {
	parts := CatalogueParts()
	byNum := map[string]CataloguePart{}
	known := 0
	for _, p := range parts {
		if _, dup := byNum[p.Number]; dup {
			t.Fatalf("part number %s twice", p.Number)
		}
		byNum[p.Number] = p
		if p.Known {
			known++
		}
		if p.Name == "" {
			t.Errorf("%s has no name", p.Number)
		}
	}
	if known < 40 {
		t.Errorf("%d catalogue parts, want at least 40", known)
	}
	if len(parts)-known < 5 {
		t.Errorf("%d parts not in the catalogue, want some for the not-in-catalogue rate", len(parts)-known)
	}
	mirrors := 0
	for _, p := range parts {
		if twin := p.Attributes["mirror_of"]; twin != "" {
			mirrors++
			if byNum[twin].Attributes["mirror_of"] != p.Number || byNum[twin].g.mirror == p.g.mirror {
				t.Errorf("%s and %s are not a mirror pair both ways", p.Number, twin)
			}
		}
	}
	if mirrors < 4 {
		t.Errorf("%d mirror parts, want at least two pairs", mirrors)
	}
	for _, family := range [][2]string{{"BR-60-2H", "BR-60-3H"}, {"HB-M8-40", "HB-M8-60"}, {"HB-M8-60", "HB-M8-60-S"}, {"HN-M10-Z", "HN-M10-B"}} {
		a, b := byNum[family[0]], byNum[family[1]]
		if !a.Known || !b.Known || a.g.kind != b.g.kind {
			t.Errorf("look-alike pair %v missing", family)
		}
	}
}

func TestCatalogueImageDeterministic(t *testing.T) {
	p := CatalogueParts()[0]
	a, err := CatalogueImage(1, p, PhotoCustomer, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := CatalogueImage(1, p, PhotoCustomer, 2)
	c, _ := CatalogueImage(1, p, PhotoReference, 2)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatal("same seed and photo should give the same bytes, another kind other bytes")
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(a))
	if err != nil || cfg.Width != Width || cfg.Height != Height {
		t.Fatalf("not a %dx%d JPEG: %v", Width, Height, err)
	}
}

func TestGenerateCatalogueSmall(t *testing.T) {
	var parts []CataloguePart
	for _, p := range CatalogueParts() {
		if p.Number == "BRL-7050" || p.Number == "X-CROSS" {
			parts = append(parts, p)
		}
	}
	out := t.TempDir()
	var last int
	opt := CatalogueOptions{Seed: 1, Out: out, Parts: parts, Ref: 2, Customer: 1, Workers: 2, Progress: func(_ string, done, _ int) { last = done }}
	if err := GenerateCatalogue(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	dir := CatalogueDir(out)
	for _, f := range []string{"reference/BRL-7050/00.jpg", "reference/BRL-7050/01.jpg", "customer/BRL-7050/00.jpg", "unknown/X-CROSS/00.jpg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "reference", "X-CROSS")); err == nil {
		t.Error("a part not in the catalogue has reference photos")
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "parts.csv"))
	if !strings.Contains(string(csv), "BRL-7050,Corner bracket 7050 left") || !strings.Contains(string(csv), "mirror_of=BRR-7050") || strings.Contains(string(csv), "X-CROSS") {
		t.Errorf("parts.csv:\n%s", csv)
	}
	if last != 4 {
		t.Errorf("progress ended at %d, want 4", last)
	}
	last = 0
	if err := GenerateCatalogue(context.Background(), opt); err != nil || last != 0 {
		t.Errorf("second run redrew the catalogue (%v)", err)
	}
}
