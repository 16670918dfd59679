package augment

import (
	"testing"

	"gocv.io/x/gocv"
)

// TestShiftMatchesWarp checks the padded-copy shift against the general warp
// for every border mode and direction.
func TestShiftMatchesWarp(t *testing.T) {
	src := testImage(23, 17)
	defer src.Close()
	a, b := gocv.NewMat(), gocv.NewMat()
	defer a.Close()
	defer b.Close()
	for _, border := range []gocv.BorderType{gocv.BorderReflect101, gocv.BorderReplicate, gocv.BorderConstant} {
		for _, d := range [][2]int{{3, 0}, {-4, 2}, {0, -5}, {7, 6}, {-2, -3}} {
			Shift(src, &a, d[0], d[1], border)
			affine(src, &b, 0, 1, float64(d[0]), float64(d[1]), border)
			if !equal(t, a, b) {
				t.Errorf("border %v shift %v: padded copy differs from warpAffine", border, d)
			}
		}
	}
}
