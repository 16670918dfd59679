package inspector

import (
	"math"
	"testing"
)

// TestInputArea checks where a model input lies in the frame: the ROI, the
// letterbox's square around it, and pad's input at the frame's own scale.
func TestInputArea(t *testing.T) {
	spec := func(size int, r ResizeMode) InputSpec {
		s := DefaultSpec(size)
		s.Resize = r
		return s
	}
	for _, tc := range []struct {
		name string
		spec InputSpec
		w, h int
		want Area
	}{
		{"stretch covers the frame", spec(448, ResizeStretch), 400, 200, Area{0, 0, 1, 1}},
		// 400×200 scaled to 448×224: the input spans 400×400 frame pixels.
		{"letterbox", spec(448, ResizeLetterbox), 400, 200, Area{0, -0.5, 1, 2}},
		// 400×200 kept at its scale inside 672×672.
		{"pad small frame", spec(672, ResizePad), 400, 200, Area{-0.34, -1.18, 1.68, 3.36}},
		// 800×400 shrunk to 672×336, as letterbox.
		{"pad large frame", spec(672, ResizePad), 800, 400, Area{0, -0.5, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := InputArea(tc.spec, tc.w, tc.h)
			for i, v := range []float32{got.X - tc.want.X, got.Y - tc.want.Y, got.W - tc.want.W, got.H - tc.want.H} {
				if math.Abs(float64(v)) > 1e-4 {
					t.Fatalf("area %+v, want %+v (field %d)", got, tc.want, i)
				}
			}
		})
	}
}
