package inspector

import (
	"errors"
	"fmt"
)

// ResizeMode says how a frame (or its ROI) is brought to the model's input size.
type ResizeMode string

const (
	// ResizeStretch scales width and height independently; the aspect ratio is lost.
	ResizeStretch ResizeMode = "stretch"
	// ResizeLetterbox scales to fit inside the input and pads the rest with black.
	ResizeLetterbox ResizeMode = "letterbox"
	// ResizeCenterCrop scales to cover the input and crops the overhang equally on both sides.
	ResizeCenterCrop ResizeMode = "centercrop"
	// ResizePad keeps the image at its own scale, centred and padded with
	// black; only an image larger than the input is shrunk to fit (as
	// letterbox). Images of one camera then show a surface at one scale
	// however large the part is.
	ResizePad ResizeMode = "pad"
)

// Interpolation is how the last, fractional step of a downscale is done.
// Every downscale first halves the image by exact 2×2 averages while it
// stays at least as large as the input; only the step after that (less
// than 2×) interpolates.
type Interpolation string

const (
	// InterpArea is OpenCV's INTER_AREA, the chain of cards that name
	// none: models trained before the field existed saw exactly this.
	InterpArea Interpolation = "area"
	// InterpLinear is OpenCV's INTER_LINEAR where the last step shrinks
	// by less than 2× both ways, so it still reads every source pixel, at
	// a fraction of INTER_AREA's cost (BenchmarkPreprocessROI). A larger
	// step, left by a stretch that changes the aspect ratio, stays
	// INTER_AREA.
	InterpLinear Interpolation = "linear"
)

// Rect is a region of interest in source-image pixels.
type Rect struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Empty reports whether r covers no pixels.
func (r Rect) Empty() bool { return r.W <= 0 || r.H <= 0 }

// InputSpec describes the tensor a model expects and how to make it from an
// image. The same spec drives training and the station, so a model sees the
// same numbers in both.
//
// The tensor is NCHW float32 with N=1: pixel values are scaled to [0,1],
// then (v-Mean[c])/Std[c] per channel. Channels is 3 (RGB order) or 1 (grey).
type InputSpec struct {
	Width    int        `json:"width"`
	Height   int        `json:"height"`
	Channels int        `json:"channels"`
	Resize   ResizeMode `json:"resize"`
	Mean     []float32  `json:"mean"`
	Std      []float32  `json:"std"`
	ROI      *Rect      `json:"roi,omitempty"`
	// Interpolation of the last downscaling step; empty means InterpArea.
	Interpolation Interpolation `json:"interpolation,omitempty"`
}

// ErrBadSpec is returned by InputSpec.Validate for a spec no tensor can be made from.
var ErrBadSpec = errors.New("invalid input spec")

// DefaultSpec returns an RGB spec of the given square size with stretch
// resizing and ImageNet-free mean/std of 0.5, which maps pixels to [-1,1].
func DefaultSpec(size int) InputSpec {
	return InputSpec{
		Width: size, Height: size, Channels: 3, Resize: ResizeStretch,
		Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5},
	}
}

// Validate returns an error wrapping ErrBadSpec when s cannot be used.
func (s InputSpec) Validate() error {
	switch {
	case s.Width <= 0 || s.Height <= 0 || s.Width > 4096 || s.Height > 4096:
		return fmt.Errorf("%w: size %dx%d", ErrBadSpec, s.Width, s.Height)
	case s.Channels != 1 && s.Channels != 3:
		return fmt.Errorf("%w: channels %d (want 1 or 3)", ErrBadSpec, s.Channels)
	case len(s.Mean) != s.Channels || len(s.Std) != s.Channels:
		return fmt.Errorf("%w: mean/std need %d values, have %d/%d", ErrBadSpec, s.Channels, len(s.Mean), len(s.Std))
	}
	for _, v := range s.Std {
		if v == 0 {
			return fmt.Errorf("%w: std of 0", ErrBadSpec)
		}
	}
	switch s.Resize {
	case ResizeStretch, ResizeLetterbox, ResizeCenterCrop, ResizePad:
	default:
		return fmt.Errorf("%w: resize mode %q", ErrBadSpec, s.Resize)
	}
	switch s.Interpolation {
	case "", InterpArea, InterpLinear:
	default:
		return fmt.Errorf("%w: interpolation %q (want area or linear)", ErrBadSpec, s.Interpolation)
	}
	if s.ROI != nil && (s.ROI.Empty() || s.ROI.X < 0 || s.ROI.Y < 0) {
		return fmt.Errorf("%w: roi %+v", ErrBadSpec, *s.ROI)
	}
	return nil
}

// TensorLen is the number of float32 values in one input tensor.
func (s InputSpec) TensorLen() int { return s.Width * s.Height * s.Channels }

// Shape is the NCHW shape of one input tensor.
func (s InputSpec) Shape() []int64 {
	return []int64{1, int64(s.Channels), int64(s.Height), int64(s.Width)}
}
