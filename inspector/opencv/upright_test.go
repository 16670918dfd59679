package opencv

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"
)

// tablePhoto draws a bright unequal-leg L bracket (mirrored when mirror
// is set), turned by angle degrees and moved off-centre, on a noisy
// dark table.
func tablePhoto(t testing.TB, angle float64, mirror bool) gocv.Mat {
	t.Helper()
	const w, h = 320, 240
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, w*h*3)
	for i := range b {
		b[i] = byte(40 + rng.IntN(30))
	}
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, b)
	if err != nil {
		t.Fatal(err)
	}
	// Legs of 120 and 70 along x and y, 24 wide, corner at the origin.
	leg := [][2]float64{{0, 0}, {120, 0}, {120, 24}, {24, 24}, {24, 70}, {0, 70}}
	s, c := math.Sincos(angle * math.Pi / 180)
	var pts []image.Point
	for _, p := range leg {
		x, y := p[0]-45, p[1]-25
		if mirror {
			y = -y
		}
		pts = append(pts, image.Pt(int(150+c*x-s*y), int(130+s*x+c*y)))
	}
	pv := gocv.NewPointsVectorFromPoints([][]image.Point{pts})
	defer pv.Close()
	gocv.FillPoly(&m, pv, color.RGBA{200, 205, 210, 0})
	return m
}

// maskStats returns the mask's foreground share and principal-axis angle
// in degrees from horizontal.
func maskStats(t *testing.T, m gocv.Mat) (share, angle float64, fg []bool) {
	t.Helper()
	b, err := m.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	w := m.Cols()
	var n, cx, cy float64
	fg = make([]bool, len(b))
	for i, v := range b {
		if v > 127 {
			fg[i] = true
			n, cx, cy = n+1, cx+float64(i%w), cy+float64(i/w)
		}
	}
	cx, cy = cx/n, cy/n
	var m20, m02, m11 float64
	for i, f := range fg {
		if f {
			dx, dy := float64(i%w)-cx, float64(i/w)-cy
			m20, m02, m11 = m20+dx*dx, m02+dy*dy, m11+dx*dy
		}
	}
	return n / float64(len(b)), 0.5 * math.Atan2(2*m11, m20-m02) * 180 / math.Pi, fg
}

// iou compares two masks, the second turned by a half turn when turn is set.
func iou(a, b []bool, turn bool) float64 {
	var in, un float64
	for i := range a {
		bi := b[i]
		if turn {
			bi = b[len(b)-1-i]
		}
		if a[i] && bi {
			in++
		}
		if a[i] || bi {
			un++
		}
	}
	return in / un
}

func TestUprightPart(t *testing.T) {
	const side = 96
	views := map[string][]bool{}
	for _, tc := range []struct {
		name   string
		angle  float64
		mirror bool
	}{{"left at 0°", 0, false}, {"left at 37°", 37, false}, {"left at 128°", 128, false}, {"right at 37°", 37, true}, {"right at 250°", 250, true}} {
		photo := tablePhoto(t, tc.angle, tc.mirror)
		view, mask := gocv.NewMat(), gocv.NewMat()
		ok := UprightPart(photo, 0.08, side, &view, &mask)
		photo.Close()
		if !ok {
			t.Fatalf("%s: no part found", tc.name)
		}
		if view.Cols() != side || view.Rows() != side || mask.Cols() != side || mask.Rows() != side {
			t.Fatalf("%s: view %dx%d, mask %dx%d, want %d square", tc.name, view.Cols(), view.Rows(), mask.Cols(), mask.Rows(), side)
		}
		share, angle, fg := maskStats(t, mask)
		view.Close()
		mask.Close()
		// The axis is horizontal (±4°, the segmentation is 160 pixels
		// wide), and the part fills the view: the L covers about a fifth
		// of its bounding square.
		if math.Abs(angle) > 4 {
			t.Errorf("%s: principal axis at %.1f°, want horizontal", tc.name, angle)
		}
		if share < 0.12 || share > 0.45 {
			t.Errorf("%s: the part covers %.2f of the view, want it filling the view", tc.name, share)
		}
		views[tc.name] = fg
		t.Logf("%s: axis %.1f°, covers %.2f", tc.name, angle, share)
	}
	// Any angle gives the same view up to a half turn; the mirror image
	// stays a different view.
	same := func(a, b string) float64 { return max(iou(views[a], views[b], false), iou(views[a], views[b], true)) }
	for _, pair := range [][2]string{{"left at 0°", "left at 37°"}, {"left at 0°", "left at 128°"}, {"right at 37°", "right at 250°"}} {
		s := same(pair[0], pair[1])
		t.Logf("%s and %s: overlap %.2f", pair[0], pair[1], s)
		if s < 0.8 {
			t.Errorf("%s and %s: overlap %.2f, want the same view (≥ 0.8)", pair[0], pair[1], s)
		}
	}
	s := same("left at 37°", "right at 37°")
	t.Logf("left and right: overlap %.2f", s)
	if s > 0.7 {
		t.Errorf("left and right: overlap %.2f, want mirror images kept apart (≤ 0.7)", s)
	}
}

func TestUprightPartEmptyTable(t *testing.T) {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 70, 80, 0), 240, 320, gocv.MatTypeCV8UC3)
	defer m.Close()
	view := gocv.NewMat()
	defer view.Close()
	if UprightPart(m, 0.08, 64, &view, nil) {
		t.Error("found a part on an empty table")
	}
	if !view.Empty() {
		t.Error("dst written although no part was found")
	}
}

// BenchmarkUprightPart times the segmentation and upright view of a
// 640×480 photo, the step a catalogue search adds before the backbone.
func BenchmarkUprightPart(b *testing.B) {
	small := tablePhoto(b, 37, false)
	defer small.Close()
	photo := gocv.NewMat()
	defer photo.Close()
	gocv.Resize(small, &photo, image.Pt(640, 480), 0, 0, gocv.InterpolationLinear)
	view, mask := gocv.NewMat(), gocv.NewMat()
	defer view.Close()
	defer mask.Close()
	for b.Loop() {
		if !UprightPart(photo, 0.08, 224, &view, &mask) {
			b.Fatal("no part found")
		}
	}
}
