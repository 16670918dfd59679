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

// TestCatalogueSizeFamiliesDifferInProportion draws the size families as
// the photos do (every part scaled to the same frame) and measures them on
// the drawing: a photo carries no scale, so two sizes must differ in
// proportion, as the standard parts they stand for do.
func TestCatalogueSizeFamiliesDifferInProportion(t *testing.T) {
	byNum := map[string]CataloguePart{}
	for _, p := range CatalogueParts() {
		byNum[p.Number] = p
	}
	// runs walks from the sprite's centre along +x (dir 0) or +y (dir 1)
	// and returns where the coverage first rises above and last falls
	// below one half, in pixels: a bore's and the outline's radius.
	runs := func(number string, dir int) (in, out float64) {
		pd := byNum[number].g.build()
		sp := makeSprite(pd, 200/pd.rb, 0)
		c := sp.S / 2
		in = -1
		for r := 0; r < sp.S/2; r++ {
			x, y := c+r, c
			if dir == 1 {
				x, y = c, c+r
			}
			if sp.a[y*sp.S+x] > 0.5 {
				if in < 0 {
					in = float64(r)
				}
				out = float64(r)
			}
		}
		return in, out
	}
	cases := []struct {
		part string
		dir  int
		want float64 // bore to outside (across flats for a nut)
	}{
		{"HN-M10-Z", 1, 10.0 / 16},
		{"HN-M16-Z", 1, 16.0 / 24},
		{"BB-6201-2RS", 0, 12.0 / 32},
		{"BB-6204-2RS", 0, 20.0 / 47},
		{"WA-10-Z", 0, 10.5 / 20},
		{"WA-10W-Z", 0, 10.5 / 30},
	}
	got := map[string]float64{}
	for _, tc := range cases {
		in, out := runs(tc.part, tc.dir)
		got[tc.part] = in / (out + 1)
		if d := got[tc.part] - tc.want; d < -0.02 || d > 0.02 {
			t.Errorf("%s: bore to outside %.3f on the drawing, want %.3f ± 0.02", tc.part, got[tc.part], tc.want)
		}
	}
	for _, pair := range [][2]string{{"HN-M10-Z", "HN-M16-Z"}, {"BB-6201-2RS", "BB-6204-2RS"}} {
		if d := got[pair[1]] - got[pair[0]]; d < 0.03 {
			t.Errorf("%s and %s differ by %.3f in proportion, want a visible difference", pair[0], pair[1], d)
		}
	}
	// Open bearings show their balls: 7 in a 6201, 8 in a 6204.
	if a, b := byNum["BB-6201"].g.n, byNum["BB-6204"].g.n; a == b {
		t.Errorf("6201 and 6204 both have %d balls", a)
	}
	// Bolts: length to head (across corners) and head to shank differ
	// between M8 and M12 of the same length.
	aspect := func(number string) (length, head, shank float64) {
		pd := byNum[number].g.build()
		sp := makeSprite(pd, 200/pd.rb, 0)
		c := sp.S / 2
		var x0, x1 = sp.S, 0
		for x := range sp.S {
			if sp.a[c*sp.S+x] > 0.5 {
				x0, x1 = min(x0, x), max(x1, x)
			}
		}
		col := func(x int) (n float64) {
			for y := range sp.S {
				if sp.a[y*sp.S+x] > 0.5 {
					n++
				}
			}
			return n
		}
		return float64(x1 - x0 + 1), col(x0 + 3), col(x1 - 3)
	}
	l8, h8, s8 := aspect("HB-M8-40")
	l12, h12, s12 := aspect("HB-M12-40")
	if r8, r12 := l8/h8, l12/h12; r8-r12 < 0.3 {
		t.Errorf("M8×40 length to head %.2f, M12×40 %.2f: want M8 clearly more slender", r8, r12)
	}
	if r8, r12 := s8/h8, s12/h12; r12-r8 < 0.02 {
		t.Errorf("shank to head M8 %.3f, M12 %.3f: want the standard's 0.615 and 0.667", r8, r12)
	}
}
