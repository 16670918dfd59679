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
