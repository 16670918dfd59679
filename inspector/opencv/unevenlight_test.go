package opencv_test

import (
	"testing"

	"gocv.io/x/gocv"
)

// TestUprightPartUnevenLight segments a demo customer photo of the black
// M8×60 bolt on a blue mat whose middle the lamp brightens: GrabCut, which
// learns the table from the frame, took the bright table around the bolt
// along (a blob five times the bolt). Segmented again with the light evened
// out, the bolt covers about as much of its upright view as in a reference
// photo of it.
func TestUprightPartUnevenLight(t *testing.T) {
	share := func(kind string) float64 {
		var s float64
		withUprightDemoPart(t, "HB-M8-60-B", kind, 0, func(_, mask gocv.Mat) {
			s = float64(gocv.CountNonZero(mask)) / float64(mask.Rows()*mask.Cols())
		})
		return s
	}
	ref, cust := share("reference"), share("customer")
	t.Logf("the bolt covers %.3f of the reference photo's view, %.3f of the customer photo's", ref, cust)
	if cust > 1.5*ref || cust < ref/1.5 {
		t.Errorf("customer photo: the part covers %.3f of its view, the reference photo's %.3f: want within a factor 1.5", cust, ref)
	}
}
