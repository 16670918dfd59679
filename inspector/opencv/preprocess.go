package opencv

import (
	"fmt"
	"image"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

// Preprocessor turns a frame into a model's input tensor as its InputSpec
// says: optional ROI crop (clipped to the image), resize (stretch, letterbox
// or centre-crop), BGR→RGB or grey, /255, (v-mean)/std, HWC→NCHW float32.
//
// It is the one copy of this logic: training and the station both call it,
// so a model sees the same numbers in both. Intermediate Mats are kept and
// reused across calls; a Preprocessor is not safe for concurrent use.
type Preprocessor struct {
	spec     inspector.InputSpec
	scale    []float32 // per channel: 1/(255·std)
	offset   []float32 // per channel: -mean/std
	colour   gocv.Mat  // the input as BGR (or grey), when it needed converting
	resized  gocv.Mat
	shrinker Shrinker
	last     gocv.InterpolationFlags // of the step after the halvings
	padded   gocv.Mat
	channels gocv.Mat // resized image in the model's channel order
}

// NewPreprocessor returns a Preprocessor for spec, or an error wrapping
// inspector.ErrBadSpec.
func NewPreprocessor(spec inspector.InputSpec) (*Preprocessor, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	p := &Preprocessor{
		spec: spec, colour: gocv.NewMat(), resized: gocv.NewMat(), padded: gocv.NewMat(), channels: gocv.NewMat(),
		shrinker: NewShrinker(), last: gocv.InterpolationArea,
	}
	if spec.Interpolation == inspector.InterpLinear {
		p.last = gocv.InterpolationLinear
	}
	for c := 0; c < spec.Channels; c++ {
		p.scale = append(p.scale, 1/(255*spec.Std[c]))
		p.offset = append(p.offset, -spec.Mean[c]/spec.Std[c])
	}
	return p, nil
}

// Spec returns the spec the Preprocessor was made for.
func (p *Preprocessor) Spec() inspector.InputSpec { return p.spec }

// Close frees the intermediate Mats.
func (p *Preprocessor) Close() error {
	for _, m := range []*gocv.Mat{&p.colour, &p.resized, &p.padded, &p.channels} {
		m.Close()
	}
	p.shrinker.Close()
	return nil
}

// Preprocess is a one-shot Preprocessor.Run for callers that convert a
// single image; loops should keep a Preprocessor.
func Preprocess(src gocv.Mat, spec inspector.InputSpec, dst []float32) error {
	p, err := NewPreprocessor(spec)
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Run(src, dst)
}

// PreprocessFile decodes an image file (within the default Limits) and
// returns its tensor as the station makes it.
func PreprocessFile(path string, spec inspector.InputSpec) ([]float32, error) {
	img, err := ReadImageFile(path, Limits{})
	if err != nil {
		return nil, err
	}
	defer img.Close()
	x := make([]float32, spec.TensorLen())
	return x, Preprocess(img, spec, x)
}

// Run writes the tensor for src (8-bit BGR, BGRA or grey, as gocv decodes or
// captures) into dst, which must hold spec.TensorLen() values. It returns an
// error for an empty or non-8-bit image, a wrong dst length, or an ROI
// outside the image.
func (p *Preprocessor) Run(src gocv.Mat, dst []float32) error {
	s := p.spec
	if len(dst) != s.TensorLen() {
		return fmt.Errorf("preprocess: tensor has %d values, spec %dx%dx%d needs %d", len(dst), s.Channels, s.Height, s.Width, s.TensorLen())
	}
	if src.Empty() {
		return fmt.Errorf("preprocess: empty image")
	}
	var conv gocv.ColorConversionCode = -1
	switch src.Type() {
	case gocv.MatTypeCV8UC3:
		if s.Channels == 1 {
			conv = gocv.ColorBGRToGray
		}
	case gocv.MatTypeCV8UC4:
		conv = gocv.ColorBGRAToBGR
		if s.Channels == 1 {
			conv = gocv.ColorBGRAToGray
		}
	case gocv.MatTypeCV8UC1:
		if s.Channels == 3 {
			conv = gocv.ColorGrayToBGR
		}
	default:
		return fmt.Errorf("preprocess: unsupported image type %v (want 8-bit grey, BGR or BGRA)", src.Type())
	}

	area := image.Rect(0, 0, src.Cols(), src.Rows())
	if s.ROI != nil {
		r := image.Rect(s.ROI.X, s.ROI.Y, s.ROI.X+s.ROI.W, s.ROI.Y+s.ROI.H)
		area = r.Intersect(area)
		if area.Empty() {
			return fmt.Errorf("preprocess: roi %+v lies outside the %dx%d image", *s.ROI, src.Cols(), src.Rows())
		}
	}
	// A centre crop is a crop of the source to the target's aspect ratio;
	// doing it before the resize keeps one resize for every mode.
	if s.Resize == inspector.ResizeCenterCrop {
		area = centreCrop(area, s.Width, s.Height)
	}
	in := src
	if area != image.Rect(0, 0, src.Cols(), src.Rows()) {
		region := src.Region(area)
		defer region.Close()
		in = region
	}
	if conv >= 0 {
		gocv.CvtColor(in, &p.colour, conv)
		in = p.colour
	}

	w, h := s.Width, s.Height
	padded := s.Resize == inspector.ResizeLetterbox || s.Resize == inspector.ResizePad
	if s.Resize == inspector.ResizePad && area.Dx() <= s.Width && area.Dy() <= s.Height {
		w, h = area.Dx(), area.Dy()
	} else if padded {
		w, h = fitInside(area.Dx(), area.Dy(), s.Width, s.Height)
	}
	out := in
	if w > area.Dx() || h > area.Dy() {
		gocv.Resize(in, &p.resized, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
		out = p.resized
	} else if w != area.Dx() || h != area.Dy() {
		p.shrinker.Shrink(in, &p.resized, w, h, p.last)
		out = p.resized
	} else if in.Ptr() != p.colour.Ptr() {
		// A Region is not continuous; copy it so its bytes can be read in one slice.
		in.CopyTo(&p.resized)
		out = p.resized
	}
	if padded && (w != s.Width || h != s.Height) {
		left, top := (s.Width-w)/2, (s.Height-h)/2
		gocv.CopyMakeBorder(out, &p.padded, top, s.Height-h-top, left, s.Width-w-left, gocv.BorderConstant, colorBlack)
		out = p.padded
	}
	pix, err := out.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	plane := s.Width * s.Height
	if len(pix) != plane*s.Channels {
		return fmt.Errorf("preprocess: internal size mismatch: %d bytes for %dx%dx%d", len(pix), s.Width, s.Height, s.Channels)
	}
	if s.Channels == 1 {
		a, b := p.scale[0], p.offset[0]
		for i, v := range pix {
			dst[i] = float32(v)*a + b
		}
		return nil
	}
	// OpenCV stores BGR; the tensor wants RGB planes.
	r, g, bl := dst[:plane], dst[plane:2*plane], dst[2*plane:]
	ar, ag, ab := p.scale[0], p.scale[1], p.scale[2]
	br, bg, bb := p.offset[0], p.offset[1], p.offset[2]
	for i := 0; i < plane; i++ {
		px := pix[3*i : 3*i+3 : 3*i+3]
		bl[i] = float32(px[0])*ab + bb
		g[i] = float32(px[1])*ag + bg
		r[i] = float32(px[2])*ar + br
	}
	return nil
}

// PreShrink takes the first of the halving steps Run takes from src towards
// spec's input size and stops while the image is still at least twice the
// input in one direction. Training decodes its images once, pre-shrinks
// them, augments at that size and hands the result to Run, which finishes
// the same chain of steps the station takes from the full frame: without
// augmentation (stretch mode) the tensors are the station's, step for step.
// It returns a new Mat the caller closes, or ok false (and an empty Mat)
// when src is small enough already.
func PreShrink(src gocv.Mat, spec inspector.InputSpec) (out gocv.Mat, ok bool) {
	w, h := spec.Width, spec.Height
	bufs := [2]gocv.Mat{gocv.NewMat(), gocv.NewMat()}
	cur := halve(src, &bufs, func(cw, ch int) bool {
		return cw/2 >= w && ch/2 >= h && (cw/2 >= 2*w || ch/2 >= 2*h)
	})
	switch cur.Ptr() {
	case bufs[0].Ptr():
		bufs[1].Close()
		return bufs[0], true
	case bufs[1].Ptr():
		bufs[0].Close()
		return bufs[1], true
	}
	bufs[0].Close()
	bufs[1].Close()
	return gocv.NewMat(), false
}

// centreCrop returns the largest rectangle of area's centre with the aspect ratio w:h.
func centreCrop(area image.Rectangle, w, h int) image.Rectangle {
	aw, ah := area.Dx(), area.Dy()
	if aw*h > ah*w { // too wide
		cw := (ah*w + h/2) / h
		x := area.Min.X + (aw-cw)/2
		return image.Rect(x, area.Min.Y, x+cw, area.Max.Y)
	}
	ch := (aw*h + w/2) / w
	y := area.Min.Y + (ah-ch)/2
	return image.Rect(area.Min.X, y, area.Max.X, y+ch)
}

// fitInside returns the size of a w×h image scaled to fit inside maxW×maxH.
func fitInside(w, h, maxW, maxH int) (int, int) {
	if w*maxH > h*maxW {
		return maxW, max(1, (h*maxW+w/2)/w)
	}
	return max(1, (w*maxH+h/2)/h), maxH
}
