package opencv

import (
	"testing"

	"gocv.io/x/gocv"
)

// TestFlattenLight: the fit evens out a ramp and a vignette on an empty
// table to within a few levels.
func TestFlattenLight(t *testing.T) {
	const w, h = 160, 120
	b := make([]byte, w*h*3)
	for y := range h {
		for x := range w {
			dx, dy := float64(x-100), float64(y-50)
			l := (1 + 0.2*(float64(x)/w-0.5)) * (1 - 0.8*(dx*dx+dy*dy)/(w*w+h*h))
			for c := range 3 {
				b[3*(y*w+x)+c] = byte(150 * l)
			}
		}
	}
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !flattenLight(&m, 5) {
		t.Fatal("no fit")
	}
	px, _ := m.DataPtrUint8()
	lo, hi := 255, 0
	for _, v := range px {
		lo, hi = min(lo, int(v)), max(hi, int(v))
	}
	if hi-lo > 8 {
		t.Errorf("evened-out table spans %d to %d, want within 8 levels", lo, hi)
	}
}
