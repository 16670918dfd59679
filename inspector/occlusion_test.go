package inspector

import (
	"context"
	"testing"
)

// spotClassifier says "defect" in proportion to the input's values inside
// one square, as a model that looks there would.
type spotClassifier struct{ x0, y0, x1, y1, w int }

func (s spotClassifier) Classify(_ context.Context, x []float32) ([]float32, error) {
	var sum float32
	for y := s.y0; y < s.y1; y++ {
		for xx := s.x0; xx < s.x1; xx++ {
			sum += x[y*s.w+xx]
		}
	}
	p := min(1, sum/float32((s.x1-s.x0)*(s.y1-s.y0)))
	return []float32{1 - p, p}, nil
}

func (spotClassifier) Close() error { return nil }

func TestOcclusionFindsWhereTheModelLooks(t *testing.T) {
	spec := InputSpec{Width: 64, Height: 64, Channels: 1, Resize: ResizeStretch, Mean: []float32{0.5}, Std: []float32{0.5}}
	x := make([]float32, 64*64)
	for i := range x {
		x[i] = 1
	}
	c := spotClassifier{x0: 40, y0: 8, x1: 48, y1: 16, w: 64} // cell (5,1) of an 8×8 grid
	hm, err := Occlusion(context.Background(), c, x, spec, 8, func(o []float32) float32 { return o[1] })
	if err != nil {
		t.Fatal(err)
	}
	if hm.Score != 1 || hm.Data[1*8+5] != 255 || hm.Hot != (Rect{X: 5, Y: 1, W: 1, H: 1}) {
		t.Errorf("score %v, level at the spot %d, hot %+v", hm.Score, hm.Data[1*8+5], hm.Hot)
	}
	for i, v := range hm.Data {
		if i != 1*8+5 && v != 0 {
			t.Errorf("cell %d has level %d away from where the model looks", i, v)
		}
	}
	if _, err := Occlusion(context.Background(), c, x[:5], spec, 8, func(o []float32) float32 { return o[1] }); err == nil {
		t.Error("short input accepted")
	}
}
