package opencv

import (
	"image"

	"gocv.io/x/gocv"
)

// Shrinker downscales the fast way: it halves with INTER_AREA while the
// image is at least twice the target (an exact factor of two is OpenCV's
// vectorised area path; an odd last row or column is dropped), then takes
// one last step from less than twice the target. One INTER_AREA from a
// non-integer factor takes OpenCV's generic path instead, several times
// slower (BenchmarkPreprocessROI). The result is an area
// average of the same pixels, within a few grey levels of the one-step
// resize.
//
// The Preprocessor (and so training), the station's scene detection and
// the thumbnails all shrink through it. It keeps its buffers between calls
// and is not safe for concurrent use.
type Shrinker struct {
	halves [2]gocv.Mat // ping-pong buffers of the halving steps
}

// NewShrinker returns a Shrinker; Close frees its buffers.
func NewShrinker() Shrinker {
	return Shrinker{halves: [2]gocv.Mat{gocv.NewMat(), gocv.NewMat()}}
}

// Close frees the buffers.
func (s *Shrinker) Close() {
	s.halves[0].Close()
	s.halves[1].Close()
}

// Shrink writes in, resized to w×h (no larger than in), into dst; last is
// the interpolation of the step after the halving (INTER_LINEAR only where
// that step is under 2× both ways, INTER_AREA otherwise).
func (s *Shrinker) Shrink(in gocv.Mat, dst *gocv.Mat, w, h int, last gocv.InterpolationFlags) {
	cur := halve(in, &s.halves, func(cw, ch int) bool { return cw/2 >= w && ch/2 >= h })
	if cur.Cols() == w && cur.Rows() == h {
		cur.CopyTo(dst)
		return
	}
	if last == gocv.InterpolationLinear && (cur.Cols() >= 2*w || cur.Rows() >= 2*h) {
		// Halving stops when either side would drop below the target, so
		// a stretch that changes the aspect ratio can leave a step of 2×
		// or more one way; INTER_LINEAR would skip pixels there.
		last = gocv.InterpolationArea
	}
	gocv.Resize(cur, dst, image.Pt(w, h), 0, 0, last)
}

// Shrink is a one-shot Shrinker for pictures people look at (thumbnails,
// stored frames capped in size): its last step is INTER_LINEAR, which from
// less than twice the target still sees every pixel. Loops should keep a
// Shrinker.
func Shrink(src gocv.Mat, dst *gocv.Mat, w, h int) {
	s := NewShrinker()
	defer s.Close()
	s.Shrink(src, dst, w, h, gocv.InterpolationLinear)
}

// halve halves in with INTER_AREA into bufs, alternating between them,
// while more says so for the current size; it returns the last result, or
// in when no step was taken.
func halve(in gocv.Mat, bufs *[2]gocv.Mat, more func(w, h int) bool) gocv.Mat {
	cur, k := in, 0
	for more(cur.Cols(), cur.Rows()) {
		half := image.Pt(cur.Cols()/2, cur.Rows()/2)
		if cur.Cols()%2 != 0 || cur.Rows()%2 != 0 {
			even := cur.Region(image.Rect(0, 0, 2*half.X, 2*half.Y))
			gocv.Resize(even, &bufs[k], half, 0, 0, gocv.InterpolationArea)
			even.Close()
		} else {
			gocv.Resize(cur, &bufs[k], half, 0, 0, gocv.InterpolationArea)
		}
		cur, k = bufs[k], k^1
	}
	return cur
}
