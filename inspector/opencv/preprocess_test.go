package opencv

import (
	"errors"
	"image"
	"math"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

// matFromBGR builds an 8UC3 Mat from rows of BGR triples.
func matFromBGR(t testing.TB, rows [][][3]uint8) gocv.Mat {
	t.Helper()
	h, w := len(rows), len(rows[0])
	buf := make([]byte, 0, w*h*3)
	for _, r := range rows {
		for _, px := range r {
			buf = append(buf, px[0], px[1], px[2])
		}
	}
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, buf)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func spec(w, h, ch int, mode inspector.ResizeMode, mean, std float32) inspector.InputSpec {
	s := inspector.InputSpec{Width: w, Height: h, Channels: ch, Resize: mode}
	for i := 0; i < ch; i++ {
		s.Mean, s.Std = append(s.Mean, mean), append(s.Std, std)
	}
	return s
}

// The image: 4 wide, 2 high, BGR. Expected tensors below are written out by
// hand from these numbers, not computed by the code under test.
var tiny = [][][3]uint8{
	{{0, 0, 255}, {0, 255, 0}, {255, 0, 0}, {10, 20, 30}},
	{{51, 102, 153}, {255, 255, 255}, {0, 0, 0}, {30, 20, 10}},
}

// matFromGreyRows builds an 8UC3 Mat whose three channels all equal the given grey values.
func matFromGreyRows(t testing.TB, rows [][]uint8) gocv.Mat {
	t.Helper()
	bgr := make([][][3]uint8, len(rows))
	for y, r := range rows {
		for _, v := range r {
			bgr[y] = append(bgr[y], [3]uint8{v, v, v})
		}
	}
	return matFromBGR(t, bgr)
}

// referencePlanes computes the tensor of an image that needs no resizing with
// a plain loop, independently of Preprocessor: RGB planes of (v/255-mean)/std.
func referencePlanes(rows [][][3]uint8, mean, std []float32) []float32 {
	h, w := len(rows), len(rows[0])
	out := make([]float32, 3*w*h)
	for c := 0; c < 3; c++ { // c: 0=R, 1=G, 2=B; BGR index 2-c
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := float32(rows[y][x][2-c]) / 255
				out[c*w*h+y*w+x] = (v - mean[c]) / std[c]
			}
		}
	}
	return out
}

func TestPreprocessGolden(t *testing.T) {
	const tol = 1e-5 // float32 rounding only; every case below is exact in 8 bits
	roi := func(s inspector.InputSpec, x, y, w, h int) inspector.InputSpec {
		s.ROI = &inspector.Rect{X: x, Y: y, W: w, H: h}
		return s
	}
	src := matFromBGR(t, tiny)
	defer src.Close()
	grey := gocv.NewMat() // tiny as 8UC1
	defer grey.Close()
	gocv.CvtColor(src, &grey, gocv.ColorBGRToGray)
	bgra := gocv.NewMat() // tiny as 8UC4 with alpha 255
	defer bgra.Close()
	gocv.CvtColor(src, &bgra, gocv.ColorBGRToBGRA)
	// 8×4, every row the same: 200 0 40 0 | 80 0 0 100. Its 4×4 block means
	// are 60 and 45 (INTER_LINEAR at 4× would sample only columns 1,2 and
	// 5,6: 20 and 0), its 2×2 block means 100 20 40 50.
	stripes := matFromGreyRows(t, [][]uint8{
		{200, 0, 40, 0, 80, 0, 0, 100}, {200, 0, 40, 0, 80, 0, 0, 100},
		{200, 0, 40, 0, 80, 0, 0, 100}, {200, 0, 40, 0, 80, 0, 0, 100},
	})
	defer stripes.Close()
	// 2×1: 0 200. INTER_LINEAR to 4×1 samples at x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
	ramp := matFromGreyRows(t, [][]uint8{{0, 200}})
	defer ramp.Close()

	cases := []struct {
		name string
		src  gocv.Mat
		spec inspector.InputSpec
		want []float32
		tol  float64
	}{
		{
			// Same size, mean 0, std 1: the RGB planes are the pixels /255.
			name: "identity rgb planes",
			src:  src,
			spec: spec(4, 2, 3, inspector.ResizeStretch, 0, 1),
			want: []float32{
				// R plane (third BGR byte)
				1, 0, 0, 30.0 / 255, 153.0 / 255, 1, 0, 10.0 / 255,
				// G plane
				0, 1, 0, 20.0 / 255, 102.0 / 255, 1, 0, 20.0 / 255,
				// B plane
				0, 0, 1, 10.0 / 255, 51.0 / 255, 1, 0, 30.0 / 255,
			},
		},
		{
			// mean .5 std .5 maps 0 → -1 and 255 → 1.
			name: "normalised",
			src:  src,
			spec: spec(4, 2, 3, inspector.ResizeStretch, 0.5, 0.5),
			want: []float32{
				1, -1, -1, 60.0/255 - 1, 306.0/255 - 1, 1, -1, 20.0/255 - 1,
				-1, 1, -1, 40.0/255 - 1, 204.0/255 - 1, 1, -1, 40.0/255 - 1,
				-1, -1, 1, 20.0/255 - 1, 102.0/255 - 1, 1, -1, 60.0/255 - 1,
			},
		},
		{
			// A different mean and std per channel, in RGB order.
			name: "per-channel mean and std",
			src:  src,
			spec: inspector.InputSpec{Width: 4, Height: 2, Channels: 3, Resize: inspector.ResizeStretch,
				Mean: []float32{0.1, 0.2, 0.3}, Std: []float32{0.5, 1, 2}},
			want: referencePlanes(tiny, []float32{0.1, 0.2, 0.3}, []float32{0.5, 1, 2}),
		},
		{
			// Alpha is dropped; the colours are those of tiny.
			name: "bgra input",
			src:  bgra,
			spec: spec(4, 2, 3, inspector.ResizeStretch, 0, 1),
			want: referencePlanes(tiny, []float32{0, 0, 0}, []float32{1, 1, 1}),
		},
		{
			// ROI x=1,y=0,w=2,h=2 without resize: columns 1 and 2.
			name: "roi crop",
			src:  src,
			spec: roi(spec(2, 2, 3, inspector.ResizeStretch, 0, 1), 1, 0, 2, 2),
			want: []float32{0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0},
		},
		{
			// ROI reaching past the bottom right is clipped to columns 2–3 of row 1: (0,0,0) and BGR (30,20,10).
			name: "roi clipped to image",
			src:  src,
			spec: roi(spec(2, 1, 3, inspector.ResizeStretch, 0, 1), 2, 1, 10, 10),
			want: []float32{0, 10.0 / 255, 0, 20.0 / 255, 0, 30.0 / 255},
		},
		{
			// 2×2 blocks averaged (INTER_AREA at exactly half size).
			// Block 1 R: (255+0+153+255)/4 = 165.75; G: (0+255+102+255)/4 = 153; B: (0+0+51+255)/4 = 76.5
			// Block 2 R: (0+30+0+10)/4 = 10; G: (0+20+0+20)/4 = 10; B: (255+10+0+30)/4 = 73.75
			// OpenCV rounds the 8-bit result: 165.75→166, 76.5→76 or 77, 73.75→74.
			name: "half size area",
			src:  src,
			spec: spec(2, 1, 3, inspector.ResizeStretch, 0, 1),
			want: []float32{166.0 / 255, 10.0 / 255, 153.0 / 255, 10.0 / 255, 76.5 / 255, 74.0 / 255},
			tol:  0.6 / 255, // OpenCV's rounding of .5 is implementation-defined
		},
		{
			// Shrinking 4× must average whole 4×4 blocks (INTER_AREA), not sample.
			name: "quarter size is block mean",
			src:  stripes,
			spec: spec(2, 1, 1, inspector.ResizeStretch, 0, 1),
			want: []float32{60.0 / 255, 45.0 / 255},
		},
		{
			// Enlarging interpolates linearly: 0 50 150 200.
			name: "enlarge is linear",
			src:  ramp,
			spec: spec(4, 1, 1, inspector.ResizeStretch, 0, 1),
			want: []float32{0, 50.0 / 255, 150.0 / 255, 200.0 / 255},
		},
		{
			// Grey: 0.299 R + 0.587 G + 0.114 B, rounded. Row 0: 76, 150, 29, 0.299*30+0.587*20+0.114*10 = 21.85 → 22; row 1: 0.299*153+0.587*102+0.114*51 = 111.4 → 111, 255, 0, 0.299*10+0.587*20+0.114*30 = 18.1 → 18.
			name: "grey",
			src:  src,
			spec: spec(4, 2, 1, inspector.ResizeStretch, 0, 1),
			want: []float32{76.0 / 255, 150.0 / 255, 29.0 / 255, 22.0 / 255, 111.0 / 255, 1, 0, 18.0 / 255},
		},
		{
			// A 1-channel input for a 3-channel model: three equal planes.
			name: "grey input to rgb",
			src:  grey,
			spec: spec(4, 2, 3, inspector.ResizeStretch, 0, 1),
			want: func() []float32 {
				g := []float32{76.0 / 255, 150.0 / 255, 29.0 / 255, 22.0 / 255, 111.0 / 255, 1, 0, 18.0 / 255}
				return append(append(append([]float32{}, g...), g...), g...)
			}(),
		},
		{
			// 4×2 into 4×4 letterbox: the image keeps its size, one black row above and below.
			name: "letterbox pads centred",
			src:  src,
			spec: spec(4, 4, 1, inspector.ResizeLetterbox, 0, 1),
			want: []float32{0, 0, 0, 0, 76.0 / 255, 150.0 / 255, 29.0 / 255, 22.0 / 255, 111.0 / 255, 1, 0, 18.0 / 255, 0, 0, 0, 0},
		},
		{
			// 8×4 into 4×4 letterbox: halved to 4×2 (block means 100 20 40 50), one black row above and below.
			name: "letterbox shrinks then pads",
			src:  stripes,
			spec: spec(4, 4, 1, inspector.ResizeLetterbox, 0, 1),
			want: []float32{0, 0, 0, 0, 100.0 / 255, 20.0 / 255, 40.0 / 255, 50.0 / 255, 100.0 / 255, 20.0 / 255, 40.0 / 255, 50.0 / 255, 0, 0, 0, 0},
		},
		{
			// Black padding is 0 before normalisation: with mean .5 std .5 it is -1.
			name: "letterbox padding normalised",
			src:  src,
			spec: spec(2, 2, 1, inspector.ResizeLetterbox, 0.5, 0.5),
			// 4×2 halved to 2×1 grey block means: (76+150+111+255)/4 = 148, (29+22+0+18)/4 = 17.25 → 17.
			// One row of padding cannot be split: it goes below (top = floor of half).
			want: []float32{2*148.0/255 - 1, 2*17.0/255 - 1, -1, -1},
			tol:  1.1 * 2 / 255, // the grey values are rounded before averaging
		},
		{
			// 4×2 into 6×4 pad: the image keeps its own scale (letterbox would
			// enlarge it to 6×3), one black column left and right, one row above
			// and below.
			name: "pad keeps the scale",
			src:  src,
			spec: spec(6, 4, 1, inspector.ResizePad, 0, 1),
			want: []float32{
				0, 0, 0, 0, 0, 0,
				0, 76.0 / 255, 150.0 / 255, 29.0 / 255, 22.0 / 255, 0,
				0, 111.0 / 255, 1, 0, 18.0 / 255, 0,
				0, 0, 0, 0, 0, 0},
		},
		{
			// 8×4 into 4×4 pad: too large, so shrunk to fit as letterbox does.
			name: "pad shrinks what does not fit",
			src:  stripes,
			spec: spec(4, 4, 1, inspector.ResizePad, 0, 1),
			want: []float32{0, 0, 0, 0, 100.0 / 255, 20.0 / 255, 40.0 / 255, 50.0 / 255, 100.0 / 255, 20.0 / 255, 40.0 / 255, 50.0 / 255, 0, 0, 0, 0},
		},
		{
			// 4×2 into 2×2 centre crop: the middle two columns (1 and 2).
			name: "centre crop",
			src:  src,
			spec: spec(2, 2, 1, inspector.ResizeCenterCrop, 0, 1),
			want: []float32{150.0 / 255, 29.0 / 255, 1, 0},
		},
		{
			// 8×4 into 2×2 centre crop: columns 2–5 (40 0 80 0), halved: 20 40.
			name: "centre crop shrinks",
			src:  stripes,
			spec: spec(2, 2, 1, inspector.ResizeCenterCrop, 0, 1),
			want: []float32{20.0 / 255, 40.0 / 255, 20.0 / 255, 40.0 / 255},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make([]float32, c.spec.TensorLen())
			if err := Preprocess(c.src, c.spec, got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("len %d, want %d", len(got), len(c.want))
			}
			tl := c.tol
			if tl == 0 {
				tl = tol
			}
			for i := range got {
				if math.Abs(float64(got[i]-c.want[i])) > tl {
					t.Errorf("value %d = %.5f, want %.5f", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestPreprocessErrors(t *testing.T) {
	src := matFromBGR(t, tiny)
	defer src.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	s := spec(2, 2, 3, inspector.ResizeStretch, 0, 1)
	if err := Preprocess(src, s, make([]float32, 5)); err == nil {
		t.Error("wrong tensor length accepted")
	}
	if err := Preprocess(empty, s, make([]float32, 12)); err == nil {
		t.Error("empty image accepted")
	}
	out := s
	out.ROI = &inspector.Rect{X: 10, Y: 10, W: 5, H: 5}
	if err := Preprocess(src, out, make([]float32, 12)); err == nil {
		t.Error("roi outside the image accepted")
	}
	bad := s
	bad.Std = []float32{1, 0, 1}
	if err := Preprocess(src, bad, make([]float32, 12)); !errors.Is(err, inspector.ErrBadSpec) {
		t.Errorf("std 0: err = %v, want ErrBadSpec", err)
	}
}

func TestPreprocessorReuse(t *testing.T) {
	// The same Preprocessor on frames of different sizes gives what a fresh one gives.
	a := matFromBGR(t, tiny)
	defer a.Close()
	b := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(10, 200, 30, 0), 48, 64, gocv.MatTypeCV8UC3)
	defer b.Close()
	s := spec(8, 8, 3, inspector.ResizeLetterbox, 0.5, 0.25)
	p, err := NewPreprocessor(s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, m := range []gocv.Mat{a, b, a} {
		got, want := make([]float32, s.TensorLen()), make([]float32, s.TensorLen())
		if err := p.Run(m, got); err != nil {
			t.Fatal(err)
		}
		if err := Preprocess(m, s, want); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("reused preprocessor differs at %d: %v vs %v", i, got[i], want[i])
			}
		}
	}
}

// regionOf returns the part of frame inside roi, or all of it for nil.
func regionOf(frame gocv.Mat, roi *inspector.Rect) gocv.Mat {
	if roi == nil {
		return frame.Region(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	}
	return frame.Region(image.Rect(roi.X, roi.Y, roi.X+roi.W, roi.Y+roi.H))
}

// tensorOf preprocesses img with a one-shot Preprocess.
func tensorOf(t *testing.T, img gocv.Mat, s inspector.InputSpec) []float32 {
	t.Helper()
	out := make([]float32, s.TensorLen())
	if err := Preprocess(img, s, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPreprocessShrinkMatchesAreaResize checks that the halving steps of a
// large downscale give what one INTER_AREA resize of the same region gives,
// within a stated tolerance, and exactly that at a factor below two.
func TestPreprocessShrinkMatchesAreaResize(t *testing.T) {
	cases := []struct {
		name       string
		w, h       int // frame
		roi        *inspector.Rect
		size       int
		maxMeanAbs float64 // mean absolute difference in grey levels
	}{
		{"defect station ROI 300 to 64", 640, 480, &inspector.Rect{X: 170, Y: 90, W: 300, H: 300}, 64, 3},
		{"whole frame to 64", 640, 480, nil, 64, 1},
		// The dropped last column and row shift the sampling by up to a source pixel.
		{"odd ROI", 640, 480, &inspector.Rect{X: 3, Y: 5, W: 301, H: 257}, 64, 5},
		{"less than twice", 640, 480, &inspector.Rect{X: 0, Y: 0, W: 100, H: 90}, 64, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frame := texture(t, c.w, c.h)
			defer frame.Close()
			s := spec(c.size, c.size, 3, inspector.ResizeStretch, 0, 1)
			s.ROI = c.roi
			got := tensorOf(t, frame, s)
			region := regionOf(frame, c.roi)
			defer region.Close()
			ref := gocv.NewMat()
			defer ref.Close()
			gocv.Resize(region, &ref, image.Pt(c.size, c.size), 0, 0, gocv.InterpolationArea)
			pix, err := ref.DataPtrUint8()
			if err != nil {
				t.Fatal(err)
			}
			plane := c.size * c.size
			sum := 0.0
			for i := 0; i < plane; i++ {
				for ch, off := range []int{2, 1, 0} { // tensor planes are RGB, the Mat is BGR
					sum += math.Abs(float64(got[ch*plane+i])*255 - float64(pix[3*i+off]))
				}
			}
			mean := sum / float64(3*plane)
			t.Logf("mean absolute difference to one INTER_AREA resize: %.3f levels", mean)
			if mean > c.maxMeanAbs+1e-3 {
				t.Errorf("mean absolute difference to one INTER_AREA resize %.2f levels, want ≤ %.1f", mean, c.maxMeanAbs)
			}
		})
	}
}

// TestPreprocessInterpolation checks the last step's interpolation: empty
// and "area" are the chain cards without the field were trained on,
// "linear" is the same halving followed by one INTER_LINEAR step, close
// to the area result but not the same, and anything else is refused.
func TestPreprocessInterpolation(t *testing.T) {
	frame := texture(t, 640, 480)
	defer frame.Close()
	s := spec(128, 128, 3, inspector.ResizeStretch, 0, 1)
	s.ROI = &inspector.Rect{X: 170, Y: 90, W: 300, H: 300}
	byDefault := tensorOf(t, frame, s)
	s.Interpolation = inspector.InterpArea
	area := tensorOf(t, frame, s)
	s.Interpolation = inspector.InterpLinear
	linear := tensorOf(t, frame, s)

	region := regionOf(frame, s.ROI)
	defer region.Close()
	half, ref := gocv.NewMat(), gocv.NewMat()
	defer half.Close()
	defer ref.Close()
	gocv.Resize(region, &half, image.Pt(150, 150), 0, 0, gocv.InterpolationArea)
	gocv.Resize(half, &ref, image.Pt(128, 128), 0, 0, gocv.InterpolationLinear)
	exact := spec(128, 128, 3, inspector.ResizeStretch, 0, 1)
	want := tensorOf(t, ref, exact)
	plane := 128 * 128
	differ, sum := 0, 0.0
	for i := 0; i < plane; i++ {
		for ch := range 3 {
			k := ch*plane + i
			if byDefault[k] != area[k] {
				t.Fatalf("value %d: %v with no interpolation named, %v with area", k, byDefault[k], area[k])
			}
			if linear[k] != want[k] {
				t.Fatalf("value %d: linear gives %v, halving then INTER_LINEAR gives %v", k, linear[k], want[k])
			}
			if linear[k] != area[k] {
				differ++
			}
			sum += math.Abs(float64(linear[k]-area[k])) * 255
		}
	}
	mean := sum / float64(3*plane)
	t.Logf("linear against area: %d of %d values differ, mean %.2f levels", differ, 3*plane, mean)
	if differ == 0 {
		t.Error("linear and area gave the same tensor: the field has no effect")
	}
	if mean > 6 {
		t.Errorf("linear is %.2f levels from area on average, want close (≤ 6)", mean)
	}

	// 640×480 to 64×64 halves to 160×120, leaving a 2.5× step across:
	// that one stays INTER_AREA.
	whole := spec(64, 64, 3, inspector.ResizeStretch, 0, 1)
	a := tensorOf(t, frame, whole)
	whole.Interpolation = inspector.InterpLinear
	l := tensorOf(t, frame, whole)
	for i := range a {
		if a[i] != l[i] {
			t.Fatalf("whole frame to 64: value %d is %v with linear, %v with area; a 2.5× step must stay INTER_AREA", i, l[i], a[i])
		}
	}

	s.Interpolation = "cubic"
	if err := Preprocess(frame, s, make([]float32, s.TensorLen())); !errors.Is(err, inspector.ErrBadSpec) {
		t.Errorf("interpolation cubic: err = %v, want ErrBadSpec", err)
	}
}

// TestPreShrinkIsThePreprocessorsChain checks what training relies on: an
// image pre-shrunk for augmentation and then preprocessed gives exactly the
// tensor the station makes from the full frame.
func TestPreShrinkIsThePreprocessorsChain(t *testing.T) {
	cases := []struct {
		name         string
		roi          *inspector.Rect
		size         int
		wantW, wantH int // pre-shrunk size: at least twice the input one way
	}{
		{"defect station ROI", &inspector.Rect{X: 170, Y: 90, W: 300, H: 300}, 64, 150, 150},
		{"defect station ROI, 128 px", &inspector.Rect{X: 170, Y: 90, W: 300, H: 300}, 128, 0, 0},
		{"whole frame", nil, 64, 160, 120},
		{"odd ROI", &inspector.Rect{X: 1, Y: 3, W: 523, H: 411}, 64, 130, 102},
		{"already small", &inspector.Rect{X: 0, Y: 0, W: 120, H: 200}, 64, 0, 0},
	}
	frame := texture(t, 640, 480)
	defer frame.Close()
	for _, interp := range []inspector.Interpolation{inspector.InterpArea, inspector.InterpLinear} {
		for _, c := range cases {
			t.Run(string(interp)+"/"+c.name, func(t *testing.T) {
				station := inspector.DefaultSpec(c.size)
				station.ROI = c.roi
				station.Interpolation = interp
				checkPreShrink(t, frame, station, c.wantW, c.wantH)
			})
		}
	}
}

// checkPreShrink pre-shrinks frame's ROI for station and compares the
// tensor made from it with the station's tensor of the whole frame.
func checkPreShrink(t *testing.T, frame gocv.Mat, station inspector.InputSpec, wantW, wantH int) {
	t.Helper()
	want := tensorOf(t, frame, station)
	img := regionOf(frame, station.ROI)
	defer img.Close()
	small, ok := PreShrink(img, station)
	defer small.Close()
	if wantW == 0 {
		if ok || !small.Empty() {
			t.Fatalf("pre-shrank a %dx%d image for a %d px input", img.Cols(), img.Rows(), station.Width)
		}
		return
	}
	if !ok || small.Cols() != wantW || small.Rows() != wantH {
		t.Fatalf("pre-shrunk to %dx%d (ok %v), want %dx%d", small.Cols(), small.Rows(), ok, wantW, wantH)
	}
	training := station
	training.ROI = nil
	got := tensorOf(t, small, training)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("value %d: %v from the pre-shrunk image, %v from the frame", i, got[i], want[i])
		}
	}
}

// BenchmarkPreprocessROI is the default defect model's preprocessing: the
// 300×300 placement-mark ROI of a 640×480 frame to a 128×128 RGB tensor
// (halved to 150, then one fractional step), with each last-step
// interpolation.
func BenchmarkPreprocessROI(b *testing.B) {
	m := texture(b, 640, 480)
	defer m.Close()
	for _, interp := range []inspector.Interpolation{inspector.InterpArea, inspector.InterpLinear} {
		b.Run(string(interp), func(b *testing.B) {
			s := inspector.DefaultSpec(128)
			s.ROI = &inspector.Rect{X: 170, Y: 90, W: 300, H: 300}
			s.Interpolation = interp
			benchRun(b, m, s)
		})
	}
}

// benchRun times one reused Preprocessor on m, as the station runs it.
func benchRun(b *testing.B, m gocv.Mat, s inspector.InputSpec) {
	p, err := NewPreprocessor(s)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	dst := make([]float32, s.TensorLen())
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Run(m, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPreprocess converts a 640×480 camera frame to a 128×128 RGB
// tensor with each resize mode, reusing one Preprocessor as the station does.
func BenchmarkPreprocess(b *testing.B) {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(40, 90, 140, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer m.Close()
	gocv.RandU(&m, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0)) // a uniform image could hide per-pixel work
	for _, mode := range []inspector.ResizeMode{inspector.ResizeStretch, inspector.ResizeLetterbox, inspector.ResizeCenterCrop} {
		b.Run(string(mode), func(b *testing.B) {
			s := inspector.DefaultSpec(128)
			s.Resize = mode
			benchRun(b, m, s)
		})
	}
}
