package opencv_test

import (
	"testing"

	"gocv.io/x/gocv"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
)

// TestShapeRerankTellsLookAlikes runs the re-ranking stage on the demo
// catalogue's drawn photos of a look-alike pair that the 16×16 silhouette
// confuses, the bracket with 2 or 3 holes per leg: a customer photo of
// each (another table and light, blur, off-centre) is searched against
// two reference photos of both parts with a scan vector that is the same for
// every photo, so only the Shape decides (without it the two tie). Each
// part's customer photo must rank its own part first. Drawing a photo takes a
// third of a second, hence so few.
func TestShapeRerankTellsLookAlikes(t *testing.T) {
	t.Parallel()
	parts := map[string]demo.CataloguePart{}
	for _, p := range demo.CatalogueParts() {
		parts[p.Number] = p
	}
	const dim = 4
	vector := func(number, kind string, i int) []float32 {
		b, err := demo.CatalogueImage(1, parts[number], kind, i)
		if err != nil {
			t.Fatal(err)
		}
		img, err := opencv.DecodeImage(b, opencv.Limits{MaxBytes: 16 << 20, MaxPixels: 40_000_000})
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		view, mask := gocv.NewMat(), gocv.NewMat()
		defer view.Close()
		defer mask.Close()
		if !opencv.UprightPart(img, 0.08, 224, &view, &mask) {
			t.Fatalf("%s %s %d: no part found", number, kind, i)
		}
		sh := opencv.PartShape(view, mask)
		if sh == nil {
			t.Fatalf("%s %s %d: no shape", number, kind, i)
		}
		return append([]float32{1, 0, 0, 0}, sh.Values()...)
	}
	for _, pair := range [][2]string{{"BR-60-2H", "BR-60-3H"}} {
		b := catalogue.NewBuilder(dim + catalogue.ShapeLen)
		b.Tail = catalogue.ShapeLen
		b.Center = false // one scan vector for all: nothing to centre
		for _, p := range pair {
			for i := range 2 {
				b.Add(p, p+string(rune('a'+i)), vector(p, demo.PhotoReference, i))
			}
		}
		ix := b.Build()
		for _, p := range pair {
			for i := range 1 {
				hits := ix.Search(vector(p, demo.PhotoCustomer, i), 2, nil)
				if len(hits) != 2 || hits[0].Part != p {
					t.Errorf("customer photo %d of %s: ranked %v", i, p, hits)
				}
			}
		}
	}
}
