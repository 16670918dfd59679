// Package augment enlarges small image datasets by image editing: rotation,
// shift, mirror, scale, brightness/contrast, gamma, blur, noise and
// perspective, each applied with a probability and a parameter drawn from a
// range. Training calls it in memory, batch by batch; the augment command
// writes variants to disk. All randomness comes from the caller's *rand.Rand,
// so the same seed gives the same images.
package augment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"gocv.io/x/gocv"
	"gopkg.in/yaml.v3"
)

// Range is a closed interval [min, max] a parameter is drawn from uniformly.
type Range [2]float64

func (r Range) draw(rng *rand.Rand) float64 {
	if r[0] == r[1] {
		return r[0]
	}
	return r[0] + (r[1]-r[0])*rng.Float64()
}

func (r Range) valid() bool { return r[0] <= r[1] && !math.IsNaN(r[0]) && !math.IsNaN(r[1]) }

// Step is one transform of a pipeline. Which fields count depends on Type:
//
//	rotate       Degrees, Border
//	shift        X, Y (largest shift as a fraction of width/height), Border
//	mirror       Horizontal, Vertical (each flipped with probability P)
//	scale        Factor, Border
//	brightness_contrast  Brightness (added, in grey levels), Contrast (factor)
//	gamma        Gamma
//	blur         Sigma (pixels)
//	noise        Sigma (grey levels)
//	perspective  Strength (largest corner move as a fraction of the size), Border
type Step struct {
	Type       string  `json:"type" yaml:"type"`
	P          float64 `json:"p" yaml:"p"`
	Degrees    Range   `json:"degrees,omitzero" yaml:"degrees,omitempty"`
	X          float64 `json:"x,omitempty" yaml:"x,omitempty"`
	Y          float64 `json:"y,omitempty" yaml:"y,omitempty"`
	Horizontal bool    `json:"horizontal,omitempty" yaml:"horizontal,omitempty"`
	Vertical   bool    `json:"vertical,omitempty" yaml:"vertical,omitempty"`
	Factor     Range   `json:"factor,omitzero" yaml:"factor,omitempty"`
	Brightness Range   `json:"brightness,omitzero" yaml:"brightness,omitempty"`
	Contrast   Range   `json:"contrast,omitzero" yaml:"contrast,omitempty"`
	Gamma      Range   `json:"gamma,omitzero" yaml:"gamma,omitempty"`
	Sigma      Range   `json:"sigma,omitzero" yaml:"sigma,omitempty"`
	Strength   float64 `json:"strength,omitempty" yaml:"strength,omitempty"`
	// Border is how pixels pulled in from outside the image are filled:
	// "reflect" (default), "replicate" or "constant" (black).
	Border string `json:"border,omitempty" yaml:"border,omitempty"`
}

// Pipeline is an ordered list of steps.
type Pipeline struct {
	Steps []Step `json:"steps" yaml:"steps"`
}

// Applied records one transform that was applied and the parameters drawn.
type Applied struct {
	Type   string             `json:"type"`
	Params map[string]float64 `json:"params"`
}

// DefaultPipeline is mild augmentation that keeps a part recognisable:
// small turns, shifts and scale changes, mirroring, light changes, a little
// blur and noise. Camera images of parts on a table have no "up", so both
// mirrors are on.
func DefaultPipeline() Pipeline {
	return Pipeline{Steps: []Step{
		{Type: "mirror", P: 0.5, Horizontal: true, Vertical: true},
		{Type: "rotate", P: 0.7, Degrees: Range{-20, 20}, Border: "reflect"},
		{Type: "shift", P: 0.5, X: 0.08, Y: 0.08, Border: "reflect"},
		{Type: "scale", P: 0.3, Factor: Range{0.9, 1.1}, Border: "reflect"},
		{Type: "brightness_contrast", P: 0.5, Brightness: Range{-20, 20}, Contrast: Range{0.85, 1.15}},
		{Type: "gamma", P: 0.2, Gamma: Range{0.8, 1.25}},
		{Type: "blur", P: 0.15, Sigma: Range{0.3, 1.0}},
		{Type: "noise", P: 0.2, Sigma: Range{1, 5}},
	}}
}

// LoadPipeline reads a pipeline from a YAML or JSON file (JSON is YAML).
func LoadPipeline(path string) (Pipeline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Pipeline{}, err
	}
	return ParsePipeline(b)
}

// ParsePipeline parses YAML or JSON and validates every step.
func ParsePipeline(b []byte) (Pipeline, error) {
	var p Pipeline
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return Pipeline{}, fmt.Errorf("pipeline: %w", err)
	}
	return p, p.Validate()
}

// JSON returns the pipeline as JSON, for manifests and model cards.
func (p Pipeline) JSON() json.RawMessage {
	b, _ := json.Marshal(p)
	return b
}

// Validate returns an error naming the first step that cannot run.
func (p Pipeline) Validate() error {
	for i, s := range p.Steps {
		if err := s.validate(); err != nil {
			return fmt.Errorf("pipeline step %d (%s): %w", i+1, s.Type, err)
		}
	}
	return nil
}

func (s Step) validate() error {
	if s.P < 0 || s.P > 1 {
		return fmt.Errorf("probability p=%v outside [0,1]", s.P)
	}
	if _, err := borderType(s.Border); err != nil {
		return err
	}
	check := func(name string, r Range, lo, hi float64) error {
		if !r.valid() || r[0] < lo || r[1] > hi {
			return fmt.Errorf("%s range %v invalid (want min ≤ max within [%v, %v])", name, r, lo, hi)
		}
		return nil
	}
	switch s.Type {
	case "rotate":
		return check("degrees", s.Degrees, -360, 360)
	case "shift":
		if s.X < 0 || s.X > 0.5 || s.Y < 0 || s.Y > 0.5 {
			return fmt.Errorf("x=%v, y=%v: want fractions in [0, 0.5]", s.X, s.Y)
		}
	case "mirror":
		if !s.Horizontal && !s.Vertical {
			return fmt.Errorf("neither horizontal nor vertical is set")
		}
	case "scale":
		return check("factor", s.Factor, 0.1, 10)
	case "brightness_contrast":
		if err := check("brightness", s.Brightness, -255, 255); err != nil {
			return err
		}
		if s.Contrast == (Range{}) {
			return nil
		}
		return check("contrast", s.Contrast, 0, 10)
	case "gamma":
		return check("gamma", s.Gamma, 0.05, 20)
	case "blur":
		return check("sigma", s.Sigma, 0, 50)
	case "noise":
		return check("sigma", s.Sigma, 0, 255)
	case "perspective":
		if s.Strength < 0 || s.Strength > 0.4 {
			return fmt.Errorf("strength %v outside [0, 0.4]", s.Strength)
		}
	default:
		return fmt.Errorf("unknown transform %q (want rotate, shift, mirror, scale, brightness_contrast, gamma, blur, noise or perspective)", s.Type)
	}
	return nil
}

func borderType(s string) (gocv.BorderType, error) {
	switch s {
	case "", "reflect":
		return gocv.BorderReflect101, nil
	case "replicate":
		return gocv.BorderReplicate, nil
	case "constant":
		return gocv.BorderConstant, nil
	}
	return 0, fmt.Errorf("border %q (want reflect, replicate or constant)", s)
}
