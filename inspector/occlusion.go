package inspector

import (
	"context"
	"fmt"
)

// OcclusionGrid is the number of cells per side of an occlusion map.
const OcclusionGrid = 8

// Occlusion explains a classifier's verdict: it hides one cell of a g×g
// grid of the input at a time (sets it to 0, the mean grey after
// normalisation) and measures how much the evidence for the verdict
// falls. evidence turns the classifier's raw output into the number the
// verdict rests on (P(NOK) for a defect model, the chosen class's
// probability for a parts model). A cell whose hiding lowers the evidence
// most is where the model looked. The map's levels are the drop relative
// to the evidence on the whole input (255: hiding the cell removes all of
// it); Score is that evidence and Scale 1.
//
// It costs g² classifier runs, so the station computes it for recorded
// verdicts only. Gradient methods (Grad-CAM) need the training framework's
// gradients, which the ONNX Runtime session the station runs does not
// give; occlusion needs nothing but the model. It returns the classifier's
// error, or an error for an input that does not fit spec.
func Occlusion(ctx context.Context, c Classifier, x []float32, spec InputSpec, g int, evidence func([]float32) float32) (*Heatmap, error) {
	if len(x) != spec.TensorLen() || g <= 0 {
		return nil, fmt.Errorf("occlusion: %d values for a %dx%dx%d input", len(x), spec.Channels, spec.Height, spec.Width)
	}
	out, err := c.Classify(ctx, x)
	if err != nil {
		return nil, err
	}
	base := evidence(out)
	work := make([]float32, len(x))
	data := make([]byte, g*g)
	plane := spec.Width * spec.Height
	for cy := 0; cy < g; cy++ {
		for cx := 0; cx < g; cx++ {
			copy(work, x)
			x0, x1 := cx*spec.Width/g, (cx+1)*spec.Width/g
			y0, y1 := cy*spec.Height/g, (cy+1)*spec.Height/g
			for ch := 0; ch < spec.Channels; ch++ {
				for y := y0; y < y1; y++ {
					clear(work[ch*plane+y*spec.Width+x0 : ch*plane+y*spec.Width+x1])
				}
			}
			o, err := c.Classify(ctx, work)
			if err != nil {
				return nil, err
			}
			drop := base - evidence(o)
			if base > 0 && drop > 0 {
				data[cy*g+cx] = byte(min(255, 255*drop/base+0.5))
			}
		}
	}
	return &Heatmap{Method: HeatmapOcclusion, W: g, H: g, Data: data, Scale: 1, Score: base, Hot: HottestRegion(data, g, g), Area: Area{W: 1, H: 1}}, nil
}
