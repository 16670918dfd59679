package station

import (
	"image"
	"image/color"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

func TestScenePresenceMotionAndAbsorb(t *testing.T) {
	sc := newScene()
	defer sc.Close()
	frame := gocv.NewMatWithSize(240, 320, gocv.MatTypeCV8UC3)
	defer frame.Close()
	draw := func(partX int) {
		frame.SetTo(gocv.NewScalar(60, 70, 80, 0))
		if partX >= 0 {
			gocv.Circle(&frame, image.Pt(partX, 120), 40, color.RGBA{220, 220, 220, 255}, -1)
		}
	}
	const level = 1.5
	draw(-1)
	sc.update(frame, nil, level) // learns the empty table
	for i := 0; i < 5; i++ {
		if m, p := sc.update(frame, nil, level); m != 0 || p != 0 {
			t.Fatalf("empty table: motion %v presence %v", m, p)
		}
	}
	var moving float64
	for x := 40; x <= 160; x += 20 { // slides in
		draw(x)
		m, _ := sc.update(frame, nil, level)
		moving = max(moving, m)
	}
	if moving < level {
		t.Errorf("a sliding part moved only %.2f", moving)
	}
	m, p := sc.update(frame, nil, level)
	if m >= level || p < 0.02 {
		t.Errorf("resting part: motion %.2f presence %.3f", m, p)
	}
	for i := 0; i < absorbAfter+300; i++ {
		_, p = sc.update(frame, nil, level)
	}
	if p >= 0.02 {
		t.Errorf("a part lying still for %d frames still counts as present (%.3f)", absorbAfter+300, p)
	}
	// With an ROI that misses the part, nothing is there.
	sc2 := newScene()
	defer sc2.Close()
	roi := &inspector.Rect{X: 0, Y: 0, W: 60, H: 60}
	draw(-1)
	sc2.update(frame, roi, level)
	draw(200)
	if _, p := sc2.update(frame, roi, level); p != 0 {
		t.Errorf("part outside the ROI: presence %.3f", p)
	}
}

// BenchmarkSceneUpdate times the per-frame scene step on a 640×480 frame
// with the demo station's 300×300 ROI, and the one-step INTER_AREA resize to
// the same 80×60 it replaced.
func BenchmarkSceneUpdate(b *testing.B) {
	frame := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer frame.Close()
	gocv.RandU(&frame, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	roi := &inspector.Rect{X: 170, Y: 90, W: 300, H: 300}
	b.Run("update", func(b *testing.B) {
		sc := newScene()
		defer sc.Close()
		for i := 0; i < b.N; i++ {
			sc.update(frame, roi, 1.5)
		}
	})
	b.Run("one-step-resize", func(b *testing.B) {
		region := frame.Region(image.Rect(roi.X, roi.Y, roi.X+roi.W, roi.Y+roi.H))
		defer region.Close()
		small := gocv.NewMat()
		defer small.Close()
		for i := 0; i < b.N; i++ {
			gocv.Resize(region, &small, image.Pt(80, 60), 0, 0, gocv.InterpolationArea)
		}
	})
}
