//go:build matprofile

package opencv

import (
	"context"
	"image"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

// TestNoMatLeaks runs every Mat-handling path many times and checks that
// gocv's Mat profile returns to where it started.
func TestNoMatLeaks(t *testing.T) {
	video := writeVideo(t, 5)
	dir := writeImages(t, 3, "%d.jpg")
	good := jpegBytes(t, 64, 48)
	before := gocv.MatProfile.Count()
	for i := 0; i < 20; i++ {
		src := matFromBGR(t, tiny)
		for _, mode := range []inspector.ResizeMode{inspector.ResizeStretch, inspector.ResizeLetterbox, inspector.ResizeCenterCrop, inspector.ResizePad} {
			s := spec(8, 6, 3, mode, 0.5, 0.5)
			s.ROI = &inspector.Rect{X: 1, Y: 0, W: 3, H: 2}
			if err := Preprocess(src, s, make([]float32, s.TensorLen())); err != nil {
				t.Fatal(err)
			}
			g := spec(3, 3, 1, mode, 0, 1)
			if err := Preprocess(src, g, make([]float32, g.TensorLen())); err != nil {
				t.Fatal(err)
			}
		}
		src.Close()
		m, err := DecodeImage(good, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		Thumbnail(m, 16, 80)
		odd := m.Region(image.Rect(0, 0, 63, 47)) // Shrink drops odd rows and columns through a Region
		Thumbnail(odd, 10, 80)
		odd.Close()
		EncodeJPEG(m, 80)
		DrawOverlay(&m, &inspector.Rect{X: 1, Y: 1, W: 10, H: 10}, "OK", colorBlack)
		m.Close()
		bad, _ := DecodeImage(good[:50], Limits{})
		bad.Close()
		photo := tablePhoto(t, 37, i%2 == 1)
		view, mask := gocv.NewMat(), gocv.NewMat()
		UprightPart(photo, 0.08, 32, &view, &mask)
		PartShape(view, mask)
		empty := gocv.NewMat()
		PartShape(view, empty) // no part: an early return
		empty.Close()
		UprightPart(photo, 0.08, 32, &view, nil)
		view.Close()
		mask.Close()
		photo.Close()
		for _, sp := range []string{video, dir} {
			s, err := OpenSource(sp, SourceOptions{Loop: true})
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, s, 7)
			s.Close()
		}
		s, err := OpenSource(video, SourceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cam := NewStillCamera(s, &inspector.Rect{X: 1, Y: 1, W: 20, H: 20})
		for range 6 { // the sixth read finds the recording's end
			cam.Grab(context.Background())
		}
		cam.Close()
		s.Close()
	}
	if after := gocv.MatProfile.Count(); after != before {
		t.Fatalf("Mat leak: %d Mats before, %d after", before, after)
	}
}
